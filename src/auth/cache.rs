//! The verified-password cache (SFTPGo's `password_caching`): after bcrypt accepts a
//! password, the account's next logins with the same password skip bcrypt. What is kept is
//! an HMAC of the password under a random key made at start, in memory only, never the
//! password; an entry holds only while the account's hash, role and state are what they were
//! when it was made, and for `ttl`. A wrong password never matches, so it always goes to
//! bcrypt.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use ring::hmac;

use crate::auth::credentials::Entry;
use crate::auth::password::Password;

/// At most this many accounts are remembered; the oldest entries make room.
const MAX_ENTRIES: usize = 65_536;

/// Serialises the bcrypt checks of one (account, password) pair, so a burst of parallel
/// first logins runs bcrypt once and the rest find the cache filled.
const CHECK_STRIPES: usize = 64;

pub(crate) struct PasswordCache {
    key: hmac::Key,
    ttl: Duration,
    entries: Mutex<HashMap<String, Remembered>>,
    checks: [Mutex<()>; CHECK_STRIPES],
}

/// One account's verified password.
struct Remembered {
    tag: hmac::Tag,
    /// The account line it was verified against (hash, role, state): any change voids it.
    entry: Entry,
    at: Instant,
}

impl PasswordCache {
    pub(crate) fn new(ttl: Duration) -> Result<PasswordCache, String> {
        let rng = ring::rand::SystemRandom::new();
        let key = hmac::Key::generate(hmac::HMAC_SHA256, &rng)
            .map_err(|_| "no random key for the password cache".to_owned())?;
        Ok(PasswordCache {
            key,
            ttl,
            entries: Mutex::new(HashMap::new()),
            checks: std::array::from_fn(|_| Mutex::new(())),
        })
    }

    /// The message authenticated: the account name and the password, length-prefixed so no
    /// two pairs give the same bytes.
    fn message(name: &str, password: &Password) -> Vec<u8> {
        let mut m = Vec::with_capacity(8 + name.len() + password.expose().len());
        m.extend_from_slice(&(name.len() as u64).to_be_bytes());
        m.extend_from_slice(name.as_bytes());
        m.extend_from_slice(password.expose().as_bytes());
        m
    }

    /// True if `password` was verified for exactly this account line within `ttl`.
    pub(crate) fn knows(&self, entry: &Entry, password: &Password) -> bool {
        let name = entry.account.name.as_str();
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(known) = entries.get(name) else {
            return false;
        };
        if known.entry != *entry || known.at.elapsed() >= self.ttl {
            return false;
        }
        // SECURITY: constant-time comparison of the tags.
        hmac::verify(
            &self.key,
            &Self::message(name, password),
            known.tag.as_ref(),
        )
        .is_ok()
    }

    /// Remembers that bcrypt accepted `password` for this account line.
    pub(crate) fn remember(&self, entry: &Entry, password: &Password) {
        let name = entry.account.name.as_str();
        let tag = hmac::sign(&self.key, &Self::message(name, password));
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= MAX_ENTRIES && !entries.contains_key(name) {
            let ttl = self.ttl;
            entries.retain(|_, r| r.at.elapsed() < ttl);
            if entries.len() >= MAX_ENTRIES
                && let Some(oldest) = entries
                    .iter()
                    .min_by_key(|(_, r)| r.at)
                    .map(|(n, _)| n.clone())
            {
                entries.remove(&oldest);
            }
        }
        entries.insert(
            name.to_owned(),
            Remembered {
                tag,
                entry: entry.clone(),
                at: Instant::now(),
            },
        );
    }

    /// Forgets the account (BAN, DELUSER; a changed line is caught by `knows` anyway).
    pub(crate) fn forget(&self, name: &str) {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(name);
    }

    /// The lock that serialises checks of this (account, password) pair.
    pub(crate) fn check_lock(&self, name: &str, password: &Password) -> &Mutex<()> {
        let tag = hmac::sign(&self.key, &Self::message(name, password));
        let stripe = tag.as_ref()[0] as usize % CHECK_STRIPES;
        &self.checks[stripe]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{AccountState, Role, UserName};

    fn entry(hash: &str, state: AccountState) -> Entry {
        Entry {
            account: crate::auth::Account {
                name: UserName::parse("alice").unwrap(),
                role: Role::User,
                state,
            },
            hash: hash.to_owned(),
        }
    }

    #[test]
    fn remembers_only_the_verified_password_of_the_same_line_within_the_ttl() {
        let cache = PasswordCache::new(Duration::from_secs(60)).unwrap();
        let line = entry("$2b$04$abc", AccountState::Active);
        let right = Password::new("right".into());
        assert!(!cache.knows(&line, &right));
        cache.remember(&line, &right);
        assert!(cache.knows(&line, &right));
        assert!(!cache.knows(&line, &Password::new("wrong".into())));
        assert!(!cache.knows(&entry("$2b$04$new", AccountState::Active), &right));
        assert!(!cache.knows(&entry("$2b$04$abc", AccountState::Banned), &right));
        cache.forget("alice");
        assert!(!cache.knows(&line, &right));
        let expired = PasswordCache::new(Duration::ZERO).unwrap();
        expired.remember(&line, &right);
        assert!(!expired.knows(&line, &right));
    }
}
