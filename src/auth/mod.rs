//! Accounts: login checks that take the same time whatever fails, account changes, and the
//! order in which deletions reach the server, over `data/credentials.txt` as `hotfile` keeps
//! it (in memory behind an `RwLock`, reloaded when it changes on disk, rewritten under a file
//! lock shared with `ferroftp user ...` processes). The file format lives in `credentials`,
//! the per-user directory grants of `data/directories.txt` in `directories`, bcrypt in
//! `password`, brute-force counting in `throttle`, per-user quotas and rates of
//! `data/limits.txt` in `limits`.

pub mod bucket;
mod cache;
mod credentials;
mod deletions;
mod directories;
mod hotfile;
mod limits;
mod password;
mod throttle;
mod user_lines;

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

pub use credentials::{
    Account, AccountState, CREDENTIALS_FILE, HEADER, MAX_NAME_LEN, Role, UserName,
};
pub use deletions::DELETIONS_FILE;
pub use directories::{
    DIRECTORIES_FILE, DIRECTORIES_HEADER, DirAccess, DirGrant, Directories, MAX_DIR_LEN,
};
pub use hotfile::{Stamp, stamp};
pub use limits::{
    Key as LimitKey, LIMITS_FILE, LIMITS_HEADER, Limits, Setting as LimitSetting, UserLimits,
    format_size,
};
pub use password::{MAX_PASSWORD_BYTES, Password};
pub use throttle::{Attempt, MAX_TRACKED_IPS, Throttle, ThrottlePolicy};

use crate::protocol::{Reply, codes};
use cache::PasswordCache;
use credentials::{CredentialsFile, Entry};
use hotfile::{Current, HotFile, lock_guard};

/// Length of the password generated for the first `admin`.
pub const GENERATED_PASSWORD_LEN: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Any login failure: unknown user, wrong password, banned. Same text for all.
    #[error("Login incorrect.")]
    LoginIncorrect,
    #[error("credentials.txt:{line}: {what}")]
    Malformed { line: usize, what: String },
    #[error("directories.txt:{line}: {what}")]
    DirectoriesMalformed { line: usize, what: String },
    #[error("limits.txt:{line}: {what}")]
    LimitsMalformed { line: usize, what: String },
    /// The message says which rule is broken; the name is quoted with escapes.
    #[error("invalid user name: {0}")]
    InvalidName(String),
    #[error("user {0} already exists")]
    Exists(String),
    #[error("no such user: {0}")]
    NoSuchUser(String),
    #[error("empty password")]
    EmptyPassword,
    #[error("password is {0} bytes long; at most {max} are allowed (bcrypt's limit)", max = MAX_PASSWORD_BYTES)]
    PasswordTooLong(usize),
    #[error("invalid bcrypt cost {0} (allowed: 4 to 31)")]
    BadCost(u32),
    #[error("bcrypt: {0}")]
    Bcrypt(#[from] bcrypt::BcryptError),
    #[error("random number generator: {0}")]
    Random(String),
    #[error("{}: {source}", path.display())]
    File { path: PathBuf, source: io::Error },
    #[error("{0}")]
    Io(#[from] io::Error),
}

impl Error {
    /// The reply an FTP peer gets: a login failure says only "Login incorrect." whatever the
    /// cause; account changes (SITE) say what is wrong with the request; anything else is a
    /// local error, logged here with its detail and never shown.
    pub fn reply(&self) -> Reply {
        match self {
            Error::LoginIncorrect => Reply::new(codes::NOT_LOGGED_IN, "Login incorrect."),
            Error::Exists(_) => Reply::new(codes::UNAVAILABLE_FILE, "User already exists."),
            Error::NoSuchUser(_) => Reply::new(codes::UNAVAILABLE_FILE, "No such user."),
            Error::InvalidName(_) | Error::EmptyPassword | Error::PasswordTooLong(_) => {
                Reply::new(codes::PARAMETER_ERROR, self.to_string())
            }
            other => {
                log::error!("account operation failed: {other}");
                Reply::new(codes::LOCAL_ERROR, "Local error in processing.")
            }
        }
    }

    fn file(path: &Path, source: io::Error) -> Error {
        Error::File {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Shared, cheap-to-clone account store over `DIR/data/credentials.txt`.
#[derive(Clone)]
pub struct Accounts {
    inner: Arc<Inner>,
}

struct Inner {
    file: HotFile<CredentialsFile>,
    cost: u32,
    dummy: OnceLock<String>,
    dummy_verifications: AtomicU64,
    /// bcrypt checks run by `verify`, for tests and metrics.
    bcrypt_checks: AtomicU64,
    deletions_path: PathBuf,
    deletions: Mutex<Deletions>,
    /// The verified-password cache, when the server turned it on.
    password_cache: OnceLock<PasswordCache>,
}

/// What the server does with an applied deletion: `(name, sequence number)`.
pub type OnDelete = Box<dyn Fn(&str, u64) -> io::Result<()> + Send + Sync>;

/// How far this process has applied `deleted-accounts.txt`.
struct Deletions {
    /// `SEQ` of the last line applied.
    seen: u64,
    /// The log's length when it was last read: unchanged, it is not read again.
    read_len: Option<u64>,
    on_delete: Option<OnDelete>,
    /// Deletions whose files could not be handed to the tombstone yet (a full disk), by
    /// name, with their `SEQ`: retried on every reload, and until then nobody logs in under
    /// that name (fail closed for that name only; every other account change goes on).
    held_back: HashMap<String, u64>,
    /// How often each name was deleted since start: a session of an account that was
    /// deleted (and perhaps re-created) since its login is a different account's.
    incarnations: HashMap<String, u64>,
}

impl Accounts {
    /// Loads `data_dir/credentials.txt`; a missing file means no accounts (it is created by the
    /// first change). A malformed line is `Err(Error::Malformed { line, .. })`.
    pub fn open(data_dir: &Path, bcrypt_cost: u32) -> Result<Accounts, Error> {
        if !password::valid_cost(bcrypt_cost) {
            return Err(Error::BadCost(bcrypt_cost));
        }
        let file = HotFile::open(data_dir)?;
        let deletions_path = data_dir.join(DELETIONS_FILE);
        Ok(Accounts {
            inner: Arc::new(Inner {
                file,
                cost: bcrypt_cost,
                dummy: OnceLock::new(),
                dummy_verifications: AtomicU64::new(0),
                bcrypt_checks: AtomicU64::new(0),
                deletions_path,
                deletions: Mutex::new(Deletions {
                    // The server sets where it stands (`on_delete`); other processes only
                    // count what they see.
                    seen: 0,
                    read_len: None,
                    on_delete: None,
                    held_back: HashMap::new(),
                    incarnations: HashMap::new(),
                }),
                password_cache: OnceLock::new(),
            }),
        })
    }

    /// The credentials file this store reads and writes.
    pub fn path(&self) -> &Path {
        self.inner.file.path()
    }

    pub fn is_empty(&self) -> bool {
        self.current().entries().next().is_none()
    }

    /// All accounts in file order.
    pub fn list(&self) -> Vec<Account> {
        self.current()
            .entries()
            .map(|e| e.account.clone())
            .collect()
    }

    /// The account with exactly this name (names are case-sensitive at login).
    pub fn lookup(&self, name: &str) -> Option<Account> {
        self.current().get(name).map(|e| e.account.clone())
    }

    /// How many bcrypt checks logins have cost so far.
    pub fn bcrypt_checks(&self) -> u64 {
        self.inner.bcrypt_checks.load(Ordering::Relaxed)
    }

    /// Turns on the verified-password cache (`password_cache`): see `cache`.
    pub fn enable_password_cache(&self, ttl: std::time::Duration) -> Result<(), Error> {
        let cache = PasswordCache::new(ttl).map_err(Error::Random)?;
        let _ = self.inner.password_cache.set(cache);
        Ok(())
    }

    /// The account, if `password` is the one recently verified for it: no bcrypt, no
    /// brute-force budget spent. `None` means: run `verify`.
    pub fn verify_cached(&self, name: &str, password: &Password) -> Option<Account> {
        let cache = self.inner.password_cache.get()?;
        if self.held_back(name) {
            return None;
        }
        let entry = self.current().get(name).cloned()?;
        (entry.account.is_active() && cache.knows(&entry, password)).then_some(entry.account)
    }

    /// Login check. Unknown user, wrong password and banned all give `Err(LoginIncorrect)`.
    /// With the cache on, parallel checks of one (account, password) pair run bcrypt once.
    pub fn verify(&self, name: &str, password: &Password) -> Result<Account, Error> {
        let Some(cache) = self.inner.password_cache.get() else {
            return self.verify_with_bcrypt(name, password).map(|(a, _)| a);
        };
        let _one_check = lock_guard(cache.check_lock(name, password));
        if let Some(account) = self.verify_cached(name, password) {
            return Ok(account);
        }
        let (account, entry) = self.verify_with_bcrypt(name, password)?;
        cache.remember(&entry, password);
        Ok(account)
    }

    fn verify_with_bcrypt(
        &self,
        name: &str,
        password: &Password,
    ) -> Result<(Account, Entry), Error> {
        // Initialised before the lookup so the one-time cost does not mark the first unknown
        // user either.
        let dummy = self.dummy_hash();
        let entry = self.current().get(name).cloned();
        // The read guard is gone: bcrypt below blocks no one.
        // SECURITY: user enumeration by timing. Unknown users cost one bcrypt of the same cost
        // against a dummy hash; banned users and over-long passwords still run bcrypt.
        let (hash, account) = match &entry {
            Some(Entry { account, hash }) => (hash.clone(), Some(account.clone())),
            None => {
                self.inner
                    .dummy_verifications
                    .fetch_add(1, Ordering::Relaxed);
                (dummy.to_string(), None)
            }
        };
        self.inner.bcrypt_checks.fetch_add(1, Ordering::Relaxed);
        let matched = password::matches(password, &hash);
        // SECURITY: bcrypt would ignore bytes past 72; a longer password never matches, and an
        // empty one never does either.
        let acceptable = password.check().is_ok();
        // SECURITY: a deleted name whose files still wait for their tombstone logs nobody in.
        let held_back = self.held_back(name);
        match (account, entry) {
            (Some(account), Some(entry))
                if matched && acceptable && account.is_active() && !held_back =>
            {
                Ok((account, entry))
            }
            _ => Err(Error::LoginIncorrect),
        }
    }

    /// Creates an account. The name must pass `UserName::parse` and be new ignoring case.
    pub fn add(&self, name: &str, password: &Password, role: Role) -> Result<Account, Error> {
        let name = UserName::parse(name)?;
        // Fresh view first, so a user just removed by another process is not reported as existing.
        self.reload_if_changed();
        if let Some(existing) = self
            .current()
            .entries()
            .find(|e| e.account.name.as_str().eq_ignore_ascii_case(name.as_str()))
        {
            // Fast path only; the authoritative check is under the file lock.
            return Err(Error::Exists(existing.account.name.to_string()));
        }
        let hash = password::hash(password, self.inner.cost)?;
        let account = Account {
            name,
            role,
            state: AccountState::Active,
        };
        let entry = Entry {
            account: account.clone(),
            hash,
        };
        self.mutate(|file| file.insert(entry))?;
        Ok(account)
    }

    pub fn remove(&self, name: &str) -> Result<(), Error> {
        self.forget_password(name);
        self.mutate(|file| file.remove(name))
    }

    /// Bans or unbans. Sessions notice through `generation()` and `lookup()`.
    pub fn set_state(&self, name: &str, state: AccountState) -> Result<(), Error> {
        self.forget_password(name);
        self.mutate(|file| file.set_state(name, state))
    }

    /// Drops a verified password (a changed account line would not match it anyway).
    fn forget_password(&self, name: &str) {
        if let Some(cache) = self.inner.password_cache.get() {
            cache.forget(name);
        }
    }

    pub fn set_password(&self, name: &str, password: &Password) -> Result<(), Error> {
        if self.lookup(name).is_none() {
            // Skip the slow hash for a typo; checked again under the lock.
            self.reload_if_changed();
            if self.lookup(name).is_none() {
                return Err(Error::NoSuchUser(name.to_string()));
            }
        }
        let hash = password::hash(password, self.inner.cost)?;
        self.mutate(|file| file.set_hash(name, hash))
    }

    /// Reloads credentials.txt if it changed on disk since the last load. A malformed (or
    /// deleted) file is logged once and the last good copy stays in use. True if a reload
    /// happened. Call every second or so (`ferroftp user ...` edits from other processes).
    pub fn reload_if_changed(&self) -> bool {
        let reload = self.inner.file.check_disk();
        // SECURITY: deletions are applied before the credentials that follow them are
        // installed. The log is read after the credentials: every deletion that came before
        // the version just read is in it (the log line is written before the lock is let go).
        if let Err(e) = self.apply_deletions() {
            log::error!("{e}; account changes wait until it can be applied");
            return false;
        }
        reload.install()
    }

    /// Registers what the server does with each deletion (hand the account's files to a
    /// tombstone owner) and applies every deletion logged after `applied_through`, the
    /// sequence number of the last one it journaled.
    pub fn on_delete(&self, applied_through: u64, on_delete: OnDelete) -> Result<(), Error> {
        let _installing = self.inner.file.install_guard();
        {
            let mut state = lock_guard(&self.inner.deletions);
            state.seen = applied_through;
            state.read_len = None;
            state.on_delete = Some(on_delete);
        }
        self.apply_deletions()
    }

    /// How many times `name` was deleted since this process started; a session compares it
    /// with the count at its login.
    pub fn incarnation(&self, name: &str) -> u64 {
        let state = lock_guard(&self.inner.deletions);
        state.incarnations.get(name).copied().unwrap_or(0)
    }

    /// Another node deleted `name` (and perhaps made it again): the sessions that logged in
    /// under it end, as after a deletion here. Its files are the deleting node's to hand on.
    pub fn end_sessions_of(&self, name: &str) {
        {
            let mut state = lock_guard(&self.inner.deletions);
            *state.incarnations.entry(name.to_owned()).or_insert(0) += 1;
        }
        self.inner.file.touch();
    }

    /// True while the deletion of `name` waits to be applied to its files: no login.
    fn held_back(&self, name: &str) -> bool {
        lock_guard(&self.inner.deletions)
            .held_back
            .contains_key(name)
    }

    /// Applies the deletions logged since the last call, in `SEQ` order, and retries those
    /// held back. A deletion whose files cannot be disowned now (a full disk) is held back
    /// rather than stopping every other account change. Call with the install guard held.
    fn apply_deletions(&self) -> Result<(), Error> {
        let path = &self.inner.deletions_path;
        let mut state = lock_guard(&self.inner.deletions);
        let held: Vec<(String, u64)> = state.held_back.drain().collect();
        for (name, seq) in held {
            state.apply(name, seq, false);
        }
        let len = std::fs::metadata(path).map(|m| m.len()).ok();
        if len == state.read_len {
            return Ok(());
        }
        let mut lines = deletions::read(path).map_err(|e| Error::file(path, e))?;
        lines.retain(|(seq, _)| *seq > state.seen);
        lines.sort();
        for (seq, name) in lines {
            state.apply(name, seq, true);
            state.seen = seq;
        }
        state.read_len = len;
        Ok(())
    }

    /// Bumped on every reload and change, so sessions can notice cheaply and re-`lookup`.
    pub fn generation(&self) -> u64 {
        self.inner.file.generation()
    }

    /// The shared read-modify-write (`HotFile::edit`), with deletions logged ahead of the
    /// rewrite and applied before the new copy is installed.
    fn mutate<T>(
        &self,
        change: impl FnOnce(&mut CredentialsFile) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let mut edit = self.inner.file.edit()?;
        let before: Vec<String> = edit.entries().map(|e| e.account.name.to_string()).collect();
        let out = change(&mut edit)?;
        // SECURITY: a deletion is logged (and fsynced) before the credentials without the
        // account are written, under the lock: no server can miss it, however fast the next
        // `add`, and a crash in between leaves a deletion not yet done, never one unlogged.
        let removed: Vec<String> = before
            .into_iter()
            .filter(|name| edit.get(name).is_none())
            .collect();
        let log = &self.inner.deletions_path;
        let log_len = deletions::append(log, &removed).map_err(|e| Error::file(log, e))?;
        let written = match edit.write() {
            Ok(written) => written,
            Err(e) => {
                if !removed.is_empty()
                    && let Err(undo) = deletions::truncate(log, log_len)
                {
                    log::error!("{}: cannot take back a deletion: {undo}", log.display());
                }
                return Err(e);
            }
        };
        self.apply_deletions()?;
        written.install();
        Ok(out)
    }

    fn dummy_hash(&self) -> &str {
        self.inner
            .dummy
            .get_or_init(|| password::dummy_hash(self.inner.cost))
    }

    fn current(&self) -> Current<'_, CredentialsFile> {
        self.inner.file.current()
    }
}

impl Deletions {
    /// Hands `name`'s files to its tombstone (`new`: first time seen, so its sessions end).
    fn apply(&mut self, name: String, seq: u64, new: bool) {
        if new {
            *self.incarnations.entry(name.clone()).or_insert(0) += 1;
        }
        let Some(on_delete) = &self.on_delete else {
            return;
        };
        match on_delete(&name, seq) {
            Ok(()) => log::info!("applied the deletion of account {name}"),
            Err(e) => {
                if new {
                    log::error!("{e}; nobody logs in as {name} until it can be applied");
                }
                self.held_back.insert(name, seq);
            }
        }
    }
}

impl fmt::Debug for Accounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Accounts")
            .field("path", &self.path())
            .field("accounts", &self.current().entries().count())
            .field("generation", &self.generation())
            .finish_non_exhaustive()
    }
}

/// Leaves a first admin's password in `path` (a service's stdout goes to a journal): exactly
/// mode 0600, written whole to a temp file and renamed into place, so a failure leaves no
/// half file and a symlink at `path` is replaced, never followed.
pub fn save_admin_password(path: &std::path::Path, password: &Password) -> Result<(), Error> {
    hotfile::write_atomic(path, &format!("{}\n", password.expose()), 0o600)
}

/// Creates `admin` with a random password if there are no accounts at all; returns the password
/// when it did, for the server to print once.
pub fn ensure_admin(accounts: &Accounts) -> Result<Option<Password>, Error> {
    accounts.reload_if_changed();
    if !accounts.is_empty() {
        return Ok(None);
    }
    let password = Password::generate(GENERATED_PASSWORD_LEN)?;
    match accounts.add("admin", &password, Role::Admin) {
        Ok(_) => Ok(Some(password)),
        // Another process created it first.
        Err(Error::Exists(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::os::unix::fs::PermissionsExt;
    use std::thread;

    use super::*;

    const COST: u32 = 4;

    fn pw(s: &str) -> Password {
        Password::new(s.to_string())
    }

    fn open(dir: &Path) -> Accounts {
        Accounts::open(dir, COST).unwrap()
    }

    #[test]
    fn missing_file_is_empty_and_not_created() {
        let dir = tempfile::tempdir().unwrap();
        let accounts = open(dir.path());
        assert!(accounts.is_empty());
        assert!(accounts.list().is_empty());
        assert!(!accounts.reload_if_changed());
        assert!(!dir.path().join(CREDENTIALS_FILE).exists());
        assert!(matches!(
            Accounts::open(dir.path(), 3),
            Err(Error::BadCost(3))
        ));
    }

    #[test]
    fn add_writes_header_0600_and_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let accounts = open(dir.path());
        let g0 = accounts.generation();
        let alice = accounts.add("alice", &pw("wonder"), Role::User).unwrap();
        assert_eq!(alice.name.as_str(), "alice");
        assert!(accounts.generation() > g0);
        let path = dir.path().join(CREDENTIALS_FILE);
        let text = fs::read_to_string(&path).unwrap();
        assert!(
            text.starts_with(&format!("{HEADER}\nalice:$2b$04$")),
            "{text}"
        );
        assert!(text.ends_with(":user:active\n"));
        assert!(!text.contains("wonder"));
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(open(dir.path()).list(), vec![alice]);
    }

    #[test]
    fn mutations_report_errors() {
        let dir = tempfile::tempdir().unwrap();
        let accounts = open(dir.path());
        accounts.add("alice", &pw("a"), Role::User).unwrap();
        assert!(matches!(
            accounts.add("Alice", &pw("a"), Role::User),
            Err(Error::Exists(n)) if n == "alice"
        ));
        assert!(matches!(
            accounts.add("Public", &pw("a"), Role::User),
            Err(Error::InvalidName(_))
        ));
        assert!(matches!(
            accounts.add("bob", &pw(""), Role::User),
            Err(Error::EmptyPassword)
        ));
        assert!(matches!(
            accounts.add("bob", &pw(&"x".repeat(73)), Role::User),
            Err(Error::PasswordTooLong(73))
        ));
        assert!(matches!(
            accounts.set_password("alice", &pw("")),
            Err(Error::EmptyPassword)
        ));
        assert!(matches!(accounts.remove("bob"), Err(Error::NoSuchUser(_))));
        assert!(matches!(
            accounts.set_state("bob", AccountState::Banned),
            Err(Error::NoSuchUser(_))
        ));
        assert!(matches!(
            accounts.set_password("bob", &pw("x")),
            Err(Error::NoSuchUser(_))
        ));
        assert_eq!(accounts.list().len(), 1);
    }

    #[test]
    fn verify_outcomes() {
        let dir = tempfile::tempdir().unwrap();
        let accounts = open(dir.path());
        accounts.add("alice", &pw("right"), Role::Admin).unwrap();
        accounts.add("bob", &pw("bobpw"), Role::User).unwrap();
        accounts.set_state("bob", AccountState::Banned).unwrap();

        let ok = accounts.verify("alice", &pw("right")).unwrap();
        assert!(ok.is_admin() && ok.is_active());
        let failures = [
            ("alice", "wrong"),
            ("alice", ""),
            ("ALICE", "right"),
            ("nobody", "right"),
            ("bob", "bobpw"),
            ("bad/name", "x"),
        ];
        for (name, password) in failures {
            let err = accounts.verify(name, &pw(password)).unwrap_err();
            assert!(matches!(err, Error::LoginIncorrect), "{name}: {err}");
            assert_eq!(err.to_string(), "Login incorrect.");
        }

        accounts.set_state("bob", AccountState::Active).unwrap();
        assert!(accounts.verify("bob", &pw("bobpw")).is_ok());
        accounts.set_password("bob", &pw("new")).unwrap();
        assert!(accounts.verify("bob", &pw("bobpw")).is_err());
        assert!(accounts.verify("bob", &pw("new")).is_ok());
        accounts.remove("bob").unwrap();
        assert!(accounts.verify("bob", &pw("new")).is_err());
        assert!(accounts.lookup("bob").is_none());
    }

    #[test]
    fn over_long_password_never_matches_its_72_byte_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let accounts = open(dir.path());
        let max = "p".repeat(72);
        accounts.add("alice", &pw(&max), Role::User).unwrap();
        assert!(accounts.verify("alice", &pw(&max)).is_ok());
        let longer = format!("{max}extra");
        assert!(matches!(
            accounts.verify("alice", &pw(&longer)),
            Err(Error::LoginIncorrect)
        ));
    }

    #[test]
    fn unknown_users_take_the_dummy_hash_path() {
        let dir = tempfile::tempdir().unwrap();
        let accounts = open(dir.path());
        accounts.add("alice", &pw("right"), Role::User).unwrap();
        let uses = || accounts.inner.dummy_verifications.load(Ordering::Relaxed);
        assert_eq!(uses(), 0);
        let _ = accounts.verify("alice", &pw("wrong"));
        assert_eq!(uses(), 0);
        assert!(
            accounts.inner.dummy.get().is_some(),
            "initialised on first verify"
        );
        let _ = accounts.verify("mallory", &pw("x"));
        let _ = accounts.verify("", &pw("x"));
        assert_eq!(uses(), 2);
        let dummy = accounts.inner.dummy.get().unwrap();
        assert!(dummy.starts_with("$2b$04$"), "same cost as real hashes");
    }

    #[test]
    fn two_processes_lose_no_concurrent_additions() {
        let dir = tempfile::tempdir().unwrap();
        let server = open(dir.path());
        let cli = open(dir.path());
        let mut handles = Vec::new();
        for (who, accounts) in [("s", &server), ("c", &cli)] {
            for thread in 0..2 {
                let accounts = accounts.clone();
                handles.push(thread::spawn(move || {
                    for i in 0..20 {
                        let name = format!("{who}{thread}u{i}");
                        accounts.add(&name, &pw("pw"), Role::User).unwrap();
                    }
                }));
            }
        }
        for h in handles {
            h.join().unwrap();
        }
        let on_disk = open(dir.path()).list();
        assert_eq!(on_disk.len(), 80);
        server.reload_if_changed();
        cli.reload_if_changed();
        assert_eq!(server.list().len(), 80);
        assert_eq!(cli.list(), server.list());
        let leftovers = hotfile::temp_leftovers(dir.path());
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn reload_picks_up_edits_and_keeps_last_good_copy() {
        let dir = tempfile::tempdir().unwrap();
        let server = open(dir.path());
        let cli = open(dir.path());
        assert!(!server.reload_if_changed());

        cli.add("alice", &pw("a"), Role::User).unwrap();
        let g = server.generation();
        assert!(server.reload_if_changed());
        assert!(server.generation() > g);
        assert!(server.lookup("alice").is_some());
        assert!(!server.reload_if_changed(), "no change, no reload");

        // A hand edit in place (same inode), with a comment the next rewrite must keep.
        let path = dir.path().join(CREDENTIALS_FILE);
        let text = fs::read_to_string(&path).unwrap();
        let edited = format!(
            "{}# hand edit\n",
            text.replace(":user:active", ":user:banned")
        );
        fs::write(&path, &edited).unwrap();
        assert!(server.reload_if_changed());
        assert_eq!(server.lookup("alice").unwrap().state, AccountState::Banned);

        // Malformed: logged once, last good copy kept, not retried while unchanged.
        fs::write(&path, format!("{edited}oops\n")).unwrap();
        let g = server.generation();
        assert!(!server.reload_if_changed());
        assert!(!server.reload_if_changed());
        assert_eq!(server.generation(), g);
        assert_eq!(server.lookup("alice").unwrap().state, AccountState::Banned);
        assert!(matches!(
            Accounts::open(dir.path(), COST),
            Err(Error::Malformed { line: 4, .. })
        ));
        // Mutations refuse to overwrite a malformed hand edit.
        assert!(matches!(
            server.add("bob", &pw("b"), Role::User),
            Err(Error::Malformed { line: 4, .. })
        ));

        // Fixed again: picked up.
        fs::write(&path, &edited).unwrap();
        server.reload_if_changed();
        server.add("bob", &pw("b"), Role::User).unwrap();
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.contains("# hand edit\nbob:"), "{text}");
        assert!(text.starts_with(HEADER));

        // Deleted: keep the last good copy.
        fs::remove_file(&path).unwrap();
        assert!(!server.reload_if_changed());
        assert_eq!(server.list().len(), 2);
    }

    #[test]
    fn ensure_admin_only_when_empty() {
        let dir = tempfile::tempdir().unwrap();
        let accounts = open(dir.path());
        let password = ensure_admin(&accounts).unwrap().expect("created");
        assert_eq!(password.expose().len(), GENERATED_PASSWORD_LEN);
        let admin = accounts.verify("admin", &password).unwrap();
        assert!(admin.is_admin());
        assert!(ensure_admin(&accounts).unwrap().is_none());
        assert!(ensure_admin(&open(dir.path())).unwrap().is_none());
    }

    #[test]
    fn debug_shows_no_hash() {
        let dir = tempfile::tempdir().unwrap();
        let accounts = open(dir.path());
        accounts.add("alice", &pw("secret"), Role::User).unwrap();
        let shown = format!("{accounts:?} {:?}", accounts.list());
        assert!(
            !shown.contains("$2b$") && !shown.contains("secret"),
            "{shown}"
        );
    }
}
