//! `data/credentials.txt`: the account types (`UserName`, `Role`, `AccountState`, `Account`),
//! and the file's format: parsing with `credentials.txt:LINE:` errors, serialising with
//! comments and order preserved, the queries and edits `Accounts` makes. Reading, locking and
//! rewriting the file on disk is `hotfile`'s; this file owns no state.

use std::fmt;

use super::Error;
use super::hotfile::Format;

pub const CREDENTIALS_FILE: &str = "credentials.txt";
/// Held from re-read to rename by every writer of credentials.txt (server and CLI processes).
const LOCK_FILE: &str = "credentials.lock";
/// First line of a newly created credentials file.
pub const HEADER: &str = "# name:bcrypt-hash:role:state";
/// Longest user name (SPEC: `[A-Za-z0-9_.-]{1,32}`).
pub const MAX_NAME_LEN: usize = 32;
/// Names kept for anonymous login (`USER anonymous` / `USER ftp`).
const ANONYMOUS_NAMES: [&str; 2] = ["anonymous", "ftp"];
/// The shared directory `server_storage/Public`: a user of that name would own it as a home.
const SHARED_DIR: &str = "Public";
/// Mode of credentials.txt and the deletion log: hashes are for the server's owner only.
pub(crate) const FILE_MODE: u32 = 0o600;

/// A valid user name: `[A-Za-z0-9_.-]{1,32}`, not starting with `.`, not `Public`, `anonymous`
/// or `ftp` (any case). Only `parse` makes one, so holders never re-validate.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserName(String);

impl UserName {
    pub fn parse(name: &str) -> Result<UserName, Error> {
        match name_problem(name) {
            None => Ok(UserName(name.to_string())),
            Some(problem) => Err(Error::InvalidName(problem)),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Names that would share a home directory on a case-insensitive file system are one name.
    fn same_as(&self, other: &str) -> bool {
        self.0.eq_ignore_ascii_case(other)
    }
}

/// What is wrong with `name`, if anything. Names are quoted with `{:?}` so control characters an
/// attacker sends (USER, SIGNUP) cannot forge log lines.
fn name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("empty name".into());
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
    {
        return Some(format!(
            "{name:?} contains {bad:?} (allowed: letters, digits, '_', '.', '-')"
        ));
    }
    if name.len() > MAX_NAME_LEN {
        return Some(format!("{name:?} is longer than {MAX_NAME_LEN} characters"));
    }
    // SECURITY: a leading dot would make a hidden home directory, and `.`/`..` would escape
    // server_storage/<name>.
    if name.starts_with('.') {
        return Some(format!("{name:?} starts with '.'"));
    }
    // SECURITY: server_storage/<name> is the user's home; `Public` is the shared directory and
    // must not become someone's private home (any case, for case-insensitive file systems).
    if name.eq_ignore_ascii_case(SHARED_DIR) {
        return Some(format!("{name:?} is reserved for the shared directory"));
    }
    // SECURITY: `USER anonymous`/`USER ftp` mean anonymous login (any password); a real account
    // of that name would make it ambiguous which rights a session gets.
    if ANONYMOUS_NAMES.iter().any(|a| name.eq_ignore_ascii_case(a)) {
        return Some(format!("{name:?} is reserved for anonymous login"));
    }
    None
}

impl fmt::Display for UserName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for UserName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Admin,
    User,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::User => "user",
        }
    }

    fn parse(field: &str) -> Option<Role> {
        [Role::Admin, Role::User]
            .into_iter()
            .find(|r| field.eq_ignore_ascii_case(r.as_str()))
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AccountState {
    Active,
    Banned,
}

impl AccountState {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountState::Active => "active",
            AccountState::Banned => "banned",
        }
    }

    fn parse(field: &str) -> Option<AccountState> {
        [AccountState::Active, AccountState::Banned]
            .into_iter()
            .find(|s| field.eq_ignore_ascii_case(s.as_str()))
    }
}

impl fmt::Display for AccountState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An account as the rest of the server sees it (the hash stays inside `auth`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub name: UserName,
    pub role: Role,
    pub state: AccountState,
}

impl Account {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    pub fn is_active(&self) -> bool {
        self.state == AccountState::Active
    }
}

/// An account line: the public part plus its bcrypt hash.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) account: Account,
    pub(crate) hash: String,
}

/// One line of the file. Comments and blank lines are kept verbatim so a hand-edited file stays
/// recognisable after the server rewrites it.
#[derive(Clone, PartialEq, Eq)]
enum Line {
    Verbatim(String),
    Account(Entry),
}

/// The whole file, in order.
#[derive(Clone, Default, PartialEq, Eq)]
pub(crate) struct CredentialsFile {
    lines: Vec<Line>,
}

impl CredentialsFile {
    /// A new file's contents: just the header comment.
    pub(crate) fn with_header() -> CredentialsFile {
        CredentialsFile {
            lines: vec![Line::Verbatim(HEADER.to_string())],
        }
    }

    pub(crate) fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.lines.iter().filter_map(|l| match l {
            Line::Account(e) => Some(e),
            Line::Verbatim(_) => None,
        })
    }

    /// The account with exactly this name.
    pub(crate) fn get(&self, name: &str) -> Option<&Entry> {
        self.entries().find(|e| e.account.name.as_str() == name)
    }

    fn get_mut(&mut self, name: &str) -> Result<&mut Entry, Error> {
        self.lines
            .iter_mut()
            .find_map(|l| match l {
                Line::Account(e) if e.account.name.as_str() == name => Some(e),
                _ => None,
            })
            .ok_or_else(|| Error::NoSuchUser(name.to_string()))
    }

    /// An account whose name equals `name` ignoring ASCII case.
    fn find(&self, name: &str) -> Option<&Entry> {
        self.entries().find(|e| e.account.name.same_as(name))
    }

    /// Appends a new account at the end (after any trailing comments).
    pub(crate) fn insert(&mut self, entry: Entry) -> Result<(), Error> {
        // SECURITY: `Alice` next to `alice` would share server_storage/alice on a
        // case-insensitive file system, so names are unique ignoring case.
        if let Some(existing) = self.find(entry.account.name.as_str()) {
            return Err(Error::Exists(existing.account.name.to_string()));
        }
        self.lines.push(Line::Account(entry));
        Ok(())
    }

    pub(crate) fn remove(&mut self, name: &str) -> Result<(), Error> {
        let before = self.lines.len();
        self.lines
            .retain(|l| !matches!(l, Line::Account(e) if e.account.name.as_str() == name));
        if self.lines.len() == before {
            return Err(Error::NoSuchUser(name.to_string()));
        }
        Ok(())
    }

    pub(crate) fn set_state(&mut self, name: &str, state: AccountState) -> Result<(), Error> {
        self.get_mut(name)?.account.state = state;
        Ok(())
    }

    pub(crate) fn set_hash(&mut self, name: &str, hash: String) -> Result<(), Error> {
        self.get_mut(name)?.hash = hash;
        Ok(())
    }
}

impl Format for CredentialsFile {
    const FILE: &'static str = CREDENTIALS_FILE;
    const LOCK: &'static str = LOCK_FILE;
    const MODE: u32 = FILE_MODE;
    const WHAT: &'static str = "accounts";

    fn parse(text: &str) -> Result<CredentialsFile, Error> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut file = CredentialsFile::default();
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let malformed = |what: String| Error::Malformed { line, what };
            let trimmed = raw.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                file.lines.push(Line::Verbatim(raw.trim_end().to_string()));
                continue;
            }
            let entry = parse_entry(trimmed).map_err(malformed)?;
            if file.find(entry.account.name.as_str()).is_some() {
                return Err(malformed(format!(
                    "duplicate user {:?}",
                    entry.account.name.as_str()
                )));
            }
            file.lines.push(Line::Account(entry));
        }
        Ok(file)
    }

    fn serialize(&self) -> String {
        let mut out = String::new();
        for line in &self.lines {
            match line {
                Line::Verbatim(text) => out.push_str(text),
                Line::Account(e) => {
                    let a = &e.account;
                    out.push_str(&format!("{}:{}:{}:{}", a.name, e.hash, a.role, a.state));
                }
            }
            out.push('\n');
        }
        out
    }

    /// No file: no accounts (the first change creates it).
    fn missing() -> CredentialsFile {
        CredentialsFile::default()
    }

    fn created() -> CredentialsFile {
        CredentialsFile::with_header()
    }
}

/// Parses `name:hash:role:state` (already trimmed, not a comment). Errors are the `what` part.
fn parse_entry(line: &str) -> Result<Entry, String> {
    let fields: Vec<&str> = line.split(':').map(str::trim).collect();
    let [name, hash, role, state] = fields[..] else {
        return Err(format!(
            "expected 4 fields name:hash:role:state, found {}",
            fields.len()
        ));
    };
    let name = name_problem(name).map_or_else(
        || Ok(UserName(name.to_string())),
        |problem| Err(format!("invalid user name: {problem}")),
    )?;
    if !is_bcrypt_hash(hash) {
        return Err("not a bcrypt hash".into());
    }
    let role = Role::parse(role)
        .ok_or_else(|| format!("unknown role {role:?} (expected admin or user)"))?;
    let state = AccountState::parse(state)
        .ok_or_else(|| format!("unknown state {state:?} (expected active or banned)"))?;
    Ok(Entry {
        account: Account { name, role, state },
        hash: hash.to_string(),
    })
}

/// `$2a$`/`$2b$`/`$2x$`/`$2y$`, a two-digit cost 04..31, `$`, then 53 characters of bcrypt's
/// base64 alphabet (22 of salt, 31 of hash): 60 characters in all.
pub(crate) fn is_bcrypt_hash(hash: &str) -> bool {
    let b = hash.as_bytes();
    if b.len() != 60 || b[0] != b'$' || b[1] != b'2' || b[3] != b'$' || b[6] != b'$' {
        return false;
    }
    if !matches!(b[2], b'a' | b'b' | b'x' | b'y') {
        return false;
    }
    let cost = hash[4..6].parse::<u32>().unwrap_or(0);
    (4..=31).contains(&cost)
        && b[4..6].iter().all(u8::is_ascii_digit)
        && b[7..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: &str = "$2b$04$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234";

    fn malformed(text: &str) -> (usize, String) {
        match CredentialsFile::parse(text) {
            Err(Error::Malformed { line, what }) => (line, what),
            Err(other) => panic!("unexpected error {other}"),
            Ok(_) => panic!("parsed: {text}"),
        }
    }

    #[test]
    fn round_trip_preserves_comments_blanks_and_order() {
        let text = format!(
            "{HEADER}\n\n# the boss\nadmin:{H}:admin:active\n  # indented comment\nbob:{H}:user:banned\n\nalice:{H}:user:active\n# trailing\n"
        );
        let file = CredentialsFile::parse(&text).unwrap();
        assert_eq!(file.serialize(), text);
        let names: Vec<_> = file.entries().map(|e| e.account.name.to_string()).collect();
        assert_eq!(names, ["admin", "bob", "alice"]);
        let bob = &file.get("bob").unwrap().account;
        assert_eq!((bob.role, bob.state), (Role::User, AccountState::Banned));
    }

    #[test]
    fn whitespace_and_crlf_tolerated_and_normalised() {
        let text = format!("\u{feff}# c\r\n  carol : {H} : Admin : ACTIVE  \r\n");
        let file = CredentialsFile::parse(&text).unwrap();
        assert_eq!(file.serialize(), format!("# c\ncarol:{H}:admin:active\n"));
    }

    #[test]
    fn edits_keep_other_lines_in_place() {
        let text = format!("# top\na:{H}:user:active\n# mid\nb:{H}:user:active\n");
        let mut file = CredentialsFile::parse(&text).unwrap();
        file.remove("a").unwrap();
        file.set_state("b", AccountState::Banned).unwrap();
        let c = Entry {
            account: Account {
                name: UserName::parse("c").unwrap(),
                role: Role::Admin,
                state: AccountState::Active,
            },
            hash: H.to_string(),
        };
        file.insert(c.clone()).unwrap();
        assert_eq!(
            file.serialize(),
            format!("# top\n# mid\nb:{H}:user:banned\nc:{H}:admin:active\n")
        );
        let mut upper = c;
        upper.account.name = UserName::parse("C").unwrap();
        assert!(matches!(file.insert(upper), Err(Error::Exists(n)) if n == "c"));
        assert!(matches!(file.remove("zed"), Err(Error::NoSuchUser(_))));
        assert!(matches!(
            file.set_hash("zed", H.into()),
            Err(Error::NoSuchUser(_))
        ));
    }

    #[test]
    fn malformed_lines_name_line_and_problem() {
        let ok = format!("# h\nadmin:{H}:admin:active\n");
        let cases = [
            (
                format!("{ok}\njunk\n"),
                4,
                "expected 4 fields name:hash:role:state, found 1",
            ),
            (
                format!("{ok}a:{H}:user\n"),
                3,
                "expected 4 fields name:hash:role:state, found 3",
            ),
            (format!("{ok}a:{H}:user:active:x\n"), 3, "found 5"),
            (
                format!("{ok}a:{H}:root:active\n"),
                3,
                "unknown role \"root\"",
            ),
            (
                format!("{ok}a:{H}:user:frozen\n"),
                3,
                "unknown state \"frozen\"",
            ),
            (
                format!("{ok}a:plaintext:user:active\n"),
                3,
                "not a bcrypt hash",
            ),
            (format!("{ok}a::user:active\n"), 3, "not a bcrypt hash"),
            (
                format!("{ok}a b:{H}:user:active\n"),
                3,
                "invalid user name: \"a b\" contains ' '",
            ),
            (
                format!("{ok}:{H}:user:active\n"),
                3,
                "invalid user name: empty name",
            ),
            (
                format!("{ok}public:{H}:user:active\n"),
                3,
                "invalid user name: \"public\" is reserved",
            ),
            (
                format!("{ok}.x:{H}:user:active\n"),
                3,
                "invalid user name: \".x\" starts with '.'",
            ),
            (
                format!("{ok}\n\nADMIN:{H}:user:active\n"),
                5,
                "duplicate user \"ADMIN\"",
            ),
            (
                format!("{ok}admin:{H}:user:active\n"),
                3,
                "duplicate user \"admin\"",
            ),
        ];
        for (text, line, what) in cases {
            let (got_line, got_what) = malformed(&text);
            assert_eq!(got_line, line, "{text}");
            assert!(got_what.contains(what), "{got_what:?} lacks {what:?}");
            let shown = Error::Malformed {
                line: got_line,
                what: got_what,
            }
            .to_string();
            assert!(
                shown.starts_with(&format!("credentials.txt:{line}: ")),
                "{shown}"
            );
            assert!(!shown.contains(H), "hash leaked into {shown}");
        }
    }

    #[test]
    fn name_rules() {
        for good in [
            "a",
            "alice",
            "Bob_2",
            "x.y-z",
            "a.",
            &"n".repeat(32),
            "Publicity",
            "ftp2",
        ] {
            assert_eq!(UserName::parse(good).unwrap().as_str(), good);
        }
        let cases = [
            ("", "empty name"),
            (&*"n".repeat(33), "longer than 32"),
            ("a/b", "contains '/'"),
            ("a:b", "contains ':'"),
            ("..", "starts with '.'"),
            (".hidden", "starts with '.'"),
            ("Public", "shared directory"),
            ("PUBLIC", "shared directory"),
            ("anonymous", "anonymous login"),
            ("FTP", "anonymous login"),
            ("é", "contains 'é'"),
            ("a\nb", "contains '\\n'"),
        ];
        for (bad, why) in cases {
            let err = UserName::parse(bad).unwrap_err();
            let shown = err.to_string();
            assert!(shown.starts_with("invalid user name: "), "{shown}");
            assert!(shown.contains(why), "{shown:?} lacks {why:?}");
            assert!(!shown.contains('\n'), "raw control character in {shown:?}");
        }
        let n = UserName::parse("alice").unwrap();
        assert_eq!(format!("{n}"), "alice");
        assert_eq!(n.as_ref(), "alice");
    }

    #[test]
    fn bcrypt_hash_shape() {
        assert!(is_bcrypt_hash(H));
        assert!(is_bcrypt_hash(&bcrypt::hash("x", 4).unwrap()));
        assert!(!is_bcrypt_hash(&H[..59]));
        assert!(!is_bcrypt_hash(&H.replace("$04$", "$03$")));
        assert!(!is_bcrypt_hash(&H.replace("$2b$", "$1b$")));
        assert!(!is_bcrypt_hash(&H.replace('a', "é")));
    }
}
