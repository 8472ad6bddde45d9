//! What accounts need of a `Password` (`crate::secret`): random generation, the storable
//! check, and the bcrypt calls: hashing, verification and the dummy hash that makes
//! unknown-user logins cost the same as real ones. Does not know about accounts or files.

use super::Error;
pub use crate::secret::Password;

/// bcrypt only looks at the first 72 bytes of its input; longer passwords are refused rather
/// than silently truncated (two passwords sharing a 72-byte prefix would otherwise be equal).
pub const MAX_PASSWORD_BYTES: usize = 72;

/// Characters of generated passwords: unambiguous to type into any FTP client.
const ALPHABET: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// Largest multiple of 62 that fits in a byte: random bytes at or above it are rejected so every
/// character is equally likely (no modulo bias).
const UNBIASED_LIMIT: u8 = 248;

/// Upper bound on rounds of random bytes in `generate` (each round yields ~97% usable bytes, so
/// this bound is never reached unless the OS RNG is broken).
const MAX_RANDOM_ROUNDS: usize = 64;

/// Salt of the dummy hash. It need not be random: nothing ever has to match it.
const DUMMY_SALT: [u8; 16] = *b"ferroftp-dummy!!";

impl Password {
    /// A random password of `len` characters from `[A-Za-z0-9]` (OS randomness).
    pub fn generate(len: usize) -> Result<Password, Error> {
        let mut out = String::with_capacity(len);
        let mut buf = vec![0u8; len.max(16) * 2];
        for _ in 0..MAX_RANDOM_ROUNDS {
            getrandom::fill(&mut buf).map_err(|e| Error::Random(e.to_string()))?;
            for &byte in buf.iter().filter(|&&b| b < UNBIASED_LIMIT) {
                if out.len() == len {
                    return Ok(Password::new(out));
                }
                out.push(char::from(ALPHABET[usize::from(byte) % ALPHABET.len()]));
            }
            if out.len() == len {
                return Ok(Password::new(out));
            }
        }
        Err(Error::Random(
            "OS random generator returned too many biased bytes".into(),
        ))
    }

    /// Whether this password may be stored: not empty, at most 72 bytes (bcrypt's limit).
    pub fn check(&self) -> Result<(), Error> {
        if self.expose().is_empty() {
            return Err(Error::EmptyPassword);
        }
        if self.expose().len() > MAX_PASSWORD_BYTES {
            return Err(Error::PasswordTooLong(self.expose().len()));
        }
        Ok(())
    }
}

/// bcrypt hash of a password that passed `check()`. Slow by design: never call it while holding
/// a lock.
pub(crate) fn hash(password: &Password, cost: u32) -> Result<String, Error> {
    password.check()?;
    Ok(bcrypt::hash(password.expose(), cost)?)
}

/// Whether `password` matches `hash`. A malformed hash (impossible after parsing) is a mismatch.
pub(crate) fn matches(password: &Password, hash: &str) -> bool {
    bcrypt::verify(password.expose(), hash).unwrap_or(false)
}

/// A valid hash of a fixed string at `cost`, used to spend the same time on unknown users as on
/// known ones. `cost` is validated when `Accounts` opens, so the fallback is never used; it is
/// still a well-formed hash (cost 10), so verification keeps taking bcrypt time.
pub(crate) fn dummy_hash(cost: u32) -> String {
    bcrypt::hash_with_salt("ferroftp dummy password", cost, DUMMY_SALT)
        .map(|parts| parts.format_for_version(bcrypt::Version::TwoB))
        .unwrap_or_else(|_| FALLBACK_DUMMY.to_string())
}

const FALLBACK_DUMMY: &str = "$2b$10$dOGG0WT6TvvBYXJWhz3CYeFynhUqR8l13ltm1I8k9vytE9YXKGtyW";

/// Whether `cost` is accepted by bcrypt.
pub(crate) fn valid_cost(cost: u32) -> bool {
    (4..=31).contains(&cost)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_hide_the_secret() {
        let p = Password::new("hunter2-secret".into());
        assert_eq!(format!("{p:?}"), "*******");
        assert_eq!(format!("{p}"), "*******");
        assert_eq!(format!("{:?}", Some(p.clone())), "Some(*******)");
        assert_eq!(p.expose(), "hunter2-secret");
    }

    #[test]
    fn generate_is_alphanumeric_of_the_right_length() {
        for len in [0, 1, 16, 100] {
            let p = Password::generate(len).unwrap();
            assert_eq!(p.expose().len(), len);
            assert!(p.expose().bytes().all(|b| b.is_ascii_alphanumeric()));
        }
        let a = Password::generate(16).unwrap();
        let b = Password::generate(16).unwrap();
        assert_ne!(a.expose(), b.expose());
    }

    #[test]
    fn check_refuses_empty_and_over_72_bytes() {
        assert!(matches!(
            Password::new(String::new()).check(),
            Err(Error::EmptyPassword)
        ));
        assert!(Password::new("x".repeat(72)).check().is_ok());
        let err = Password::new("x".repeat(73)).check().unwrap_err();
        assert!(matches!(err, Error::PasswordTooLong(73)));
        assert!(err.to_string().contains("72"));
    }

    #[test]
    fn hash_and_verify() {
        let p = Password::new("s3cret".into());
        let h = hash(&p, 4).unwrap();
        assert!(matches(&p, &h));
        assert!(!matches(&Password::new("other".into()), &h));
        assert!(!matches(&p, "garbage"));
    }

    #[test]
    fn dummy_hash_has_the_requested_cost_and_fallback_is_valid() {
        let d = dummy_hash(4);
        assert!(d.starts_with("$2b$04$"));
        assert_eq!(d.len(), 60);
        assert_eq!(FALLBACK_DUMMY.len(), 60);
        assert!(bcrypt::verify("ferroftp dummy password", FALLBACK_DUMMY).unwrap());
        assert!(valid_cost(4) && valid_cost(31) && !valid_cost(3) && !valid_cost(32));
    }
}
