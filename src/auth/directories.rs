//! `data/directories.txt`: which top-level directories of `server_storage/` each user may see,
//! read-only or read-write. Parsing with `directories.txt:LINE:` errors, the `~` (own home) and
//! `*` (default line) rules, and `Directories`, the queries and the one edit (drop a user's
//! line) over the file kept in memory by `hotfile`. Enforcing a grant on a path is `storage`'s
//! job, not this file's.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use super::Error;
use super::credentials::UserName;
use super::hotfile::{Current, Format, HotFile};
use super::user_lines::{DEFAULT_NAME, UserLines, UserRule, Who};

pub const DIRECTORIES_FILE: &str = "directories.txt";
/// Held from re-read to rename by every writer of directories.txt (server and CLI processes).
const LOCK_FILE: &str = "directories.lock";
/// Grants are no secret, and the admin may want to read them without sudo.
const FILE_MODE: u32 = 0o644;
/// The first lines of a newly created directories.txt.
pub const DIRECTORIES_HEADER: &str = "\
# name: DIR[:rw|ro], ...      (* is the default for users without a line)
# DIR is a top-level directory under server_storage/; ~ is the user's own home.
# rw lists, downloads, uploads and creates; ro only lists and downloads.
# A DIR written without a mode is ro. A user with a line gets only that line.
# Admins see and may do everything. Text after # is a comment.";
/// The grant line of a newly created directories.txt.
const DEFAULT_LINE: &str = "*: Public:rw, ~:rw";
/// Longest directory name in a grant.
pub const MAX_DIR_LEN: usize = 64;
/// Stands for the user's own home, `server_storage/<name>`.
const HOME: &str = "~";

/// What a grant allows inside its directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DirAccess {
    /// List and download.
    ReadOnly,
    /// Also upload, create, delete and rename (ownership rules still apply).
    ReadWrite,
}

impl DirAccess {
    pub fn as_str(self) -> &'static str {
        match self {
            DirAccess::ReadOnly => "ro",
            DirAccess::ReadWrite => "rw",
        }
    }

    pub fn allows_write(self) -> bool {
        self == DirAccess::ReadWrite
    }

    fn parse(field: &str) -> Option<DirAccess> {
        [DirAccess::ReadOnly, DirAccess::ReadWrite]
            .into_iter()
            .find(|a| field.eq_ignore_ascii_case(a.as_str()))
    }
}

impl fmt::Display for DirAccess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One top-level directory a user may see. The directory need not exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirGrant {
    /// A top-level name under `server_storage/`; `~` already replaced by the user's name.
    pub dir: String,
    pub access: DirAccess,
}

/// Shared, cheap-to-clone view of `DIR/data/directories.txt`.
#[derive(Clone)]
pub struct Directories {
    file: Arc<HotFile<DirectoriesFile>>,
}

impl Directories {
    /// Loads `data_dir/directories.txt`. A missing file is created (atomically, mode 0644) with
    /// the header comment and the default line `*: Public:rw, ~:rw`. A malformed line is
    /// `Err(Error::DirectoriesMalformed { line, .. })`.
    pub fn open(data_dir: &Path) -> Result<Directories, Error> {
        Ok(Directories {
            file: Arc::new(HotFile::open(data_dir)?),
        })
    }

    /// The directories file this view reads and writes.
    pub fn path(&self) -> &Path {
        self.file.path()
    }

    /// The top-level directories `user` may see: from the user's own line if there is one (name
    /// compared ignoring ASCII case, as account names are unique that way), else from the `*`
    /// line, else none. A directory granted twice (`~` and the user's name) gets the stronger
    /// access, at the place of its first mention.
    pub fn grants_for(&self, user: &str) -> Vec<DirGrant> {
        let file = self.current();
        let Some(rule) = file.rule_for(user) else {
            return Vec::new();
        };
        // SECURITY: `~` becomes a directory name only for a valid user name, so no caller can
        // turn it into `..`, `Public`, a path or a name with a NUL.
        let home = UserName::parse(user).ok();
        let mut grants: Vec<DirGrant> = Vec::with_capacity(rule.grants.len());
        for (dir, access) in &rule.grants {
            let dir = match dir {
                Dir::Home => match &home {
                    Some(name) => name.as_str(),
                    None => continue,
                },
                Dir::Named(name) => name.as_str(),
            };
            match grants.iter_mut().find(|g| g.dir == dir) {
                Some(earlier) => earlier.access = earlier.access.max(*access),
                None => grants.push(DirGrant {
                    dir: dir.to_string(),
                    access: *access,
                }),
            }
        }
        grants
    }

    /// True if any line grants `dir` by name (case-insensitively: on a case-insensitive file
    /// system `movies` would be `Movies`). SIGNUP refuses such names.
    pub fn names_directory(&self, dir: &str) -> bool {
        self.current()
            .rules()
            .flat_map(|r| r.grants.iter())
            .any(|(d, _)| matches!(d, Dir::Named(n) if n.eq_ignore_ascii_case(dir)))
    }

    /// Reloads directories.txt if it changed on disk since the last load. A malformed (or
    /// deleted) file is logged once and the last good copy stays in use. True if a reload
    /// happened. Call every second or so, like `Accounts::reload_if_changed`.
    pub fn reload_if_changed(&self) -> bool {
        self.file.reload_if_changed()
    }

    /// Bumped on every reload and change, so sessions can notice cheaply and re-ask `grants_for`.
    pub fn generation(&self) -> u64 {
        self.file.generation()
    }

    /// Drops `name`'s line (ignoring ASCII case), keeping comments and every other line as they
    /// were. No line for `name` is not an error and leaves the file untouched. Done as a locked
    /// read-modify-write from a fresh read, so edits by other processes are never lost; a
    /// malformed file on disk is refused, not overwritten (it is someone's hand edit).
    pub fn remove_user(&self, name: &str) -> Result<(), Error> {
        // A missing file has no user lines, so it stays missing.
        let mut edit = self.file.edit()?;
        if edit.remove(name) {
            edit.write()?.install();
        }
        Ok(())
    }

    fn current(&self) -> Current<'_, DirectoriesFile> {
        self.file.current()
    }
}

impl fmt::Debug for Directories {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Directories")
            .field("path", &self.path())
            .field("rules", &self.current().rules().count())
            .field("generation", &self.generation())
            .finish_non_exhaustive()
    }
}

/// A directory as written in a grant.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Dir {
    /// `~`: the user's own home.
    Home,
    Named(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    who: Who,
    grants: Vec<(Dir, DirAccess)>,
}

impl UserRule for Rule {
    fn who(&self) -> &Who {
        &self.who
    }
}

/// The whole file, in order, every line kept as written (so removing a user leaves the
/// admin's formatting and comments alone).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct DirectoriesFile(UserLines<Rule>);

impl Format for DirectoriesFile {
    const FILE: &'static str = DIRECTORIES_FILE;
    const LOCK: &'static str = LOCK_FILE;
    const MODE: u32 = FILE_MODE;
    const WHAT: &'static str = "directory grants";

    fn parse(text: &str) -> Result<DirectoriesFile, Error> {
        UserLines::parse(text, parse_rule, |line, what| Error::DirectoriesMalformed {
            line,
            what,
        })
        .map(DirectoriesFile)
    }

    fn serialize(&self) -> String {
        self.0.serialize()
    }

    /// No file: no grants at all (only `open` creates the default one).
    fn missing() -> DirectoriesFile {
        DirectoriesFile::default()
    }

    fn initial_text() -> Option<String> {
        Some(format!("{DIRECTORIES_HEADER}\n{DEFAULT_LINE}\n"))
    }
}

impl DirectoriesFile {
    fn rules(&self) -> impl Iterator<Item = &Rule> {
        self.0.rules()
    }

    /// The user's line, else the `*` line.
    fn rule_for(&self, user: &str) -> Option<&Rule> {
        self.0.own(user).or_else(|| self.0.default_rule())
    }

    /// Drops the line of user `name` (ignoring ASCII case); false if there was none.
    fn remove(&mut self, name: &str) -> bool {
        self.0.remove(name)
    }
}

/// Parses `name: DIR[:rw|ro], ...` (comment removed, trimmed, not empty). Errors are the `what`.
fn parse_rule(content: &str) -> Result<Rule, String> {
    const NO_COLON: &str = "expected name: DIR[:rw|ro], ... (no ':' after the name)";
    let Some((name, list)) = content.split_once(':') else {
        return Err(NO_COLON.into());
    };
    let name = name.trim();
    // `bob Public:rw`: the first ':' is a mode's, so the one after the name is missing.
    if name.contains(|c: char| c.is_whitespace() || c == ',') {
        return Err(NO_COLON.into());
    }
    let who = Who::parse(name)?;
    if list.trim().is_empty() {
        return Err("empty directory list".into());
    }
    let mut grants: Vec<(Dir, DirAccess)> = Vec::new();
    for item in list.split(',').map(str::trim) {
        let (dir, access) = parse_grant(item)?;
        if grants.iter().any(|(d, _)| *d == dir) {
            return Err(format!("directory {} listed twice", shown(&dir)));
        }
        // `bob: ~:rw, bob:ro` names one directory twice as well.
        if let (Who::User(user), Dir::Named(named)) = (&who, &dir)
            && user.as_str() == named
            && grants.iter().any(|(d, _)| *d == Dir::Home)
        {
            return Err(format!("directory {named:?} listed twice (~ is {named:?})"));
        }
        if let (Who::User(user), Dir::Home) = (&who, &dir)
            && grants
                .iter()
                .any(|(d, _)| matches!(d, Dir::Named(n) if n == user.as_str()))
        {
            return Err(format!(
                "directory {:?} listed twice (~ is {:?})",
                user.as_str(),
                user.as_str()
            ));
        }
        grants.push((dir, access));
    }
    Ok(Rule { who, grants })
}

/// Parses `DIR`, `DIR:rw` or `DIR:ro`. A missing mode is `ro`: least privilege.
fn parse_grant(item: &str) -> Result<(Dir, DirAccess), String> {
    if item.is_empty() {
        return Err("empty entry in the directory list (two commas, or one at the end)".into());
    }
    let mut parts = item.split(':').map(str::trim);
    let dir = parts.next().unwrap_or_default();
    let access = match (parts.next(), parts.next()) {
        (None, _) => DirAccess::ReadOnly,
        (Some(mode), None) => DirAccess::parse(mode)
            .ok_or_else(|| format!("unknown mode {mode:?} for {dir:?} (expected rw or ro)"))?,
        (Some(_), Some(_)) => {
            return Err(format!("{item:?}: expected DIR, DIR:rw or DIR:ro"));
        }
    };
    Ok((parse_dir(dir)?, access))
}

fn parse_dir(dir: &str) -> Result<Dir, String> {
    if dir == HOME {
        return Ok(Dir::Home);
    }
    if dir == DEFAULT_NAME {
        return Err("'*' is only the name of the default line, not a directory".into());
    }
    if dir.is_empty() {
        return Err("empty directory name".into());
    }
    // SECURITY: a grant names one entry of server_storage/: no `/`, `..`, NUL or other byte that
    // could make it a path, and no hidden (`.`) names.
    if let Some(bad) = dir
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
    {
        return Err(format!(
            "directory {dir:?} contains {bad:?} (allowed: letters, digits, '_', '.', '-', or ~)"
        ));
    }
    if dir.len() > MAX_DIR_LEN {
        return Err(format!(
            "directory {dir:?} is longer than {MAX_DIR_LEN} characters"
        ));
    }
    if dir.starts_with('.') {
        return Err(format!("directory {dir:?} starts with '.'"));
    }
    Ok(Dir::Named(dir.to_string()))
}

fn shown(dir: &Dir) -> String {
    match dir {
        Dir::Home => HOME.to_string(),
        Dir::Named(name) => format!("{name:?}"),
    }
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    const SPEC: &str = "\
# name: DIR[:rw|ro], ...      (* is the default for users without a line)
*: Public:rw, ~:rw
bob: Public:ro, ~:rw, Movies:ro
";

    fn grant(dir: &str, access: DirAccess) -> DirGrant {
        DirGrant {
            dir: dir.to_string(),
            access,
        }
    }

    fn rw(dir: &str) -> DirGrant {
        grant(dir, DirAccess::ReadWrite)
    }

    fn ro(dir: &str) -> DirGrant {
        grant(dir, DirAccess::ReadOnly)
    }

    /// A Directories over `text` written to a fresh data dir.
    fn with_file(text: &str) -> (tempfile::TempDir, Directories) {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(DIRECTORIES_FILE), text).unwrap();
        let directories = Directories::open(dir.path()).unwrap();
        (dir, directories)
    }

    fn malformed(text: &str) -> (usize, String) {
        match DirectoriesFile::parse(text) {
            Err(Error::DirectoriesMalformed { line, what }) => (line, what),
            Err(other) => panic!("unexpected error {other}"),
            Ok(_) => panic!("parsed: {text}"),
        }
    }

    #[test]
    fn spec_example_grants_with_home_substituted() {
        let (_dir, d) = with_file(SPEC);
        assert_eq!(d.grants_for("bob"), [ro("Public"), rw("bob"), ro("Movies")]);
        assert_eq!(d.grants_for("alice"), [rw("Public"), rw("alice")]);
        // Lines match account names ignoring case, as accounts are unique that way.
        assert_eq!(d.grants_for("Bob"), [ro("Public"), rw("Bob"), ro("Movies")]);
    }

    #[test]
    fn missing_mode_is_read_only_and_modes_ignore_case_and_spaces() {
        let (_dir, d) = with_file("carol :Music , ~ : RW,Films:Ro   # trailing comment\n");
        assert_eq!(
            d.grants_for("carol"),
            [ro("Music"), rw("carol"), ro("Films")]
        );
        assert!(d.grants_for("carol")[1].access.allows_write());
        assert!(!d.grants_for("carol")[0].access.allows_write());
    }

    #[test]
    fn no_default_line_and_no_own_line_means_no_grants() {
        let (_dir, d) = with_file("# only bob\nbob: ~:rw\n");
        assert_eq!(d.grants_for("bob"), [rw("bob")]);
        assert!(d.grants_for("alice").is_empty());
        let (_dir, d) = with_file("# nothing at all\n\n");
        assert!(d.grants_for("alice").is_empty());
    }

    #[test]
    fn home_only_for_valid_user_names_and_duplicates_merge_to_the_stronger() {
        let (_dir, d) = with_file("*: Public:ro, ~:rw, alice:ro, Shared\n");
        // SECURITY: `~` never becomes `..`, a path or a reserved name.
        for bad in ["..", "a/b", "", "Public", "anonymous", "x\0y"] {
            assert_eq!(
                d.grants_for(bad),
                [ro("Public"), ro("alice"), ro("Shared")],
                "{bad:?}"
            );
        }
        // alice's home is granted by `~:rw` and by `alice:ro`: once, rw, where `~` was.
        assert_eq!(
            d.grants_for("alice"),
            [ro("Public"), rw("alice"), ro("Shared")]
        );
    }

    #[test]
    fn malformed_lines_name_line_and_problem() {
        let ok = "# header\n*: Public:rw, ~:rw\n";
        let cases = [
            (format!("{ok}bob Public:rw\n"), 3, "no ':' after the name"),
            (format!("{ok}bob Public\n"), 3, "no ':' after the name"),
            (format!("{ok}bob,Public:rw\n"), 3, "no ':' after the name"),
            (format!("{ok}\n\nbob:\n"), 5, "empty directory list"),
            (format!("{ok}bob:   # nothing\n"), 3, "empty directory list"),
            (format!("{ok}bob: Public,\n"), 3, "empty entry"),
            (format!("{ok}bob: Public,,~\n"), 3, "empty entry"),
            (format!("{ok}bob: Public:rx\n"), 3, "unknown mode \"rx\""),
            (format!("{ok}bob: Public:\n"), 3, "unknown mode \"\""),
            (
                format!("{ok}bob: Public:rw:ro\n"),
                3,
                "expected DIR, DIR:rw or DIR:ro",
            ),
            (
                format!("{ok}bob: Public, Movies, Public:rw\n"),
                3,
                "\"Public\" listed twice",
            ),
            (format!("{ok}bob: ~, ~:rw\n"), 3, "~ listed twice"),
            (
                format!("{ok}bob: ~, bob:rw\n"),
                3,
                "\"bob\" listed twice (~ is \"bob\")",
            ),
            (
                format!("{ok}bob: bob, ~\n"),
                3,
                "\"bob\" listed twice (~ is \"bob\")",
            ),
            (
                format!("{ok}bob: ~\nBOB: Public\n"),
                4,
                "duplicate line for user \"bob\"",
            ),
            (format!("{ok}*: Public\n"), 3, "duplicate line for \"*\""),
            (
                format!("{ok}bob: *\n"),
                3,
                "'*' is only the name of the default line",
            ),
            (format!("{ok}bob: ../etc\n"), 3, "\"../etc\" contains '/'"),
            (format!("{ok}bob: ..\n"), 3, "\"..\" starts with '.'"),
            (
                format!("{ok}bob: .hidden:rw\n"),
                3,
                "\".hidden\" starts with '.'",
            ),
            (format!("{ok}bob: :rw\n"), 3, "empty directory name"),
            (format!("{ok}bob: My Files\n"), 3, "contains ' '"),
            (
                format!("{ok}bob: {}\n", "d".repeat(65)),
                3,
                "longer than 64",
            ),
            (
                format!("{ok}~: Public\n"),
                3,
                "invalid user name: \"~\" contains '~'",
            ),
            (
                format!("{ok}Public: Public\n"),
                3,
                "invalid user name: \"Public\" is reserved",
            ),
            (
                format!("{ok}: Public\n"),
                3,
                "invalid user name: empty name",
            ),
            (
                format!("{ok}a/b: Public\n"),
                3,
                "invalid user name: \"a/b\" contains '/'",
            ),
            (format!("*: Public(x)\n{ok}"), 1, "contains '('"),
        ];
        for (text, line, what) in cases {
            let (got_line, got_what) = malformed(&text);
            assert_eq!(got_line, line, "{text}");
            assert!(got_what.contains(what), "{got_what:?} lacks {what:?}");
            let shown = Error::DirectoriesMalformed {
                line: got_line,
                what: got_what,
            }
            .to_string();
            assert!(
                shown.starts_with(&format!("directories.txt:{line}: ")),
                "{shown}"
            );
        }
        // 64 characters is fine; a line for a user who has no account yet too.
        let long = "d".repeat(64);
        let (_dir, d) = with_file(&format!("nobody_yet: {long}:rw\n"));
        assert_eq!(d.grants_for("nobody_yet"), [rw(&long)]);
    }

    #[test]
    fn open_refuses_a_malformed_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DIRECTORIES_FILE);
        fs::write(&path, "*: Public\nbob: Public:yes\n").unwrap();
        let err = Directories::open(dir.path()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "directories.txt:2: unknown mode \"yes\" for \"Public\" (expected rw or ro)"
        );
    }

    #[test]
    fn missing_file_is_created_with_header_and_default_0644() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let d = Directories::open(&data).unwrap();
        let path = data.join(DIRECTORIES_FILE);
        assert_eq!(d.path(), path);
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(text, format!("{DIRECTORIES_HEADER}\n*: Public:rw, ~:rw\n"));
        assert!(text.starts_with(
            "# name: DIR[:rw|ro], ...      (* is the default for users without a line)\n"
        ));
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644);
        assert_eq!(d.grants_for("alice"), [rw("Public"), rw("alice")]);
        assert!(!d.reload_if_changed());
        // Opening again neither rewrites nor fails.
        let before = fs::metadata(&path).unwrap().modified().unwrap();
        Directories::open(&data).unwrap();
        assert_eq!(fs::metadata(&path).unwrap().modified().unwrap(), before);
        let leftovers = crate::auth::hotfile::temp_leftovers(&data);
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn reload_picks_up_edits_and_keeps_last_good_copy() {
        let (dir, d) = with_file(SPEC);
        let path = dir.path().join(DIRECTORIES_FILE);
        assert!(!d.reload_if_changed(), "no change, no reload");

        let edited = SPEC.replace("Movies:ro", "Movies:rw");
        fs::write(&path, &edited).unwrap();
        let g = d.generation();
        assert!(d.reload_if_changed());
        assert!(d.generation() > g);
        assert_eq!(d.grants_for("bob"), [ro("Public"), rw("bob"), rw("Movies")]);

        // Malformed: logged once, last good copy kept, not retried while unchanged.
        fs::write(&path, format!("{edited}carol: Public:maybe\n")).unwrap();
        let g = d.generation();
        assert!(!d.reload_if_changed());
        assert!(!d.reload_if_changed());
        assert_eq!(d.generation(), g);
        assert_eq!(d.grants_for("bob")[2], rw("Movies"));
        assert_eq!(d.grants_for("carol"), [rw("Public"), rw("carol")]);
        // remove_user refuses to overwrite the bad hand edit.
        assert!(matches!(
            d.remove_user("bob"),
            Err(Error::DirectoriesMalformed { line: 4, .. })
        ));

        // Fixed: picked up.
        fs::write(&path, format!("{edited}carol: Public:ro\n")).unwrap();
        assert!(d.reload_if_changed());
        assert_eq!(d.grants_for("carol"), [ro("Public")]);

        // Deleted: last good copy kept, and not recreated behind the admin's back.
        fs::remove_file(&path).unwrap();
        assert!(!d.reload_if_changed());
        assert_eq!(d.grants_for("carol"), [ro("Public")]);
        assert!(!path.exists());
    }

    #[test]
    fn remove_user_keeps_comments_and_other_lines() {
        let text = "\
# header
*: Public:rw, ~:rw   # everyone

# bob is special
Bob:   Public:ro,~:rw ,Movies:ro
carol: Public
# trailing
";
        let (dir, d) = with_file(text);
        let path = dir.path().join(DIRECTORIES_FILE);
        let g = d.generation();
        d.remove_user("bob").unwrap();
        assert!(d.generation() > g);
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            text.replace("Bob:   Public:ro,~:rw ,Movies:ro\n", "")
        );
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o644
        );
        assert_eq!(d.grants_for("bob"), [rw("Public"), rw("bob")]);
        assert_eq!(d.grants_for("carol"), [ro("Public")]);

        // Absent: a no-op that does not touch the file.
        let before = fs::read_to_string(&path).unwrap();
        let g = d.generation();
        d.remove_user("nobody").unwrap();
        d.remove_user("*").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), before);
        assert_eq!(d.generation(), g);
    }

    #[test]
    fn remove_user_works_from_a_fresh_read() {
        let (dir, server) = with_file(SPEC);
        let cli = Directories::open(dir.path()).unwrap();
        // Another process adds a line the server has not reloaded yet; removing bob keeps it.
        let path = dir.path().join(DIRECTORIES_FILE);
        fs::write(&path, format!("{SPEC}dave: ~\n")).unwrap();
        server.remove_user("bob").unwrap();
        assert_eq!(server.grants_for("dave"), [ro("dave")]);
        assert!(cli.reload_if_changed());
        assert_eq!(cli.grants_for("bob"), [rw("Public"), rw("bob")]);
        assert_eq!(cli.grants_for("dave"), [ro("dave")]);
    }

    #[test]
    fn debug_is_short() {
        let (_dir, d) = with_file(SPEC);
        let shown = format!("{d:?}");
        assert!(shown.contains("rules: 2"), "{shown}");
    }
}
