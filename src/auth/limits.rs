//! `data/limits.txt`: per-user quotas (bytes and files owned) and bandwidth limits, kept by
//! `hotfile` like the other account files (hand-editable, reloaded when it changes, last good
//! copy kept on a bad edit). Parsing with `limits.txt:LINE:` errors, sizes with units, the
//! `*` default line, and the edits of `ferroftp user limit`. Counting what a user owns is
//! `storage`'s job, pacing a transfer the server's.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use super::Error;
use super::credentials::UserName;
use super::hotfile::{Current, Format, HotFile};
use super::user_lines::{DEFAULT_NAME, Line, UserLines, UserRule, Who};

pub const LIMITS_FILE: &str = "limits.txt";
/// Held from re-read to rename by every writer of limits.txt (server and CLI processes).
const LOCK_FILE: &str = "limits.lock";
/// Limits are no secret.
const FILE_MODE: u32 = 0o644;
/// The first lines of a limits.txt written by `ferroftp user limit`.
pub const LIMITS_HEADER: &str = "\
# name: quota=SIZE files=N upload_rate=RATE download_rate=RATE   (any of them, in any order)
# * is the default line: a user's line takes the keys it does not set from it; admins get
# only their own line. SIZE and RATE take K, M, G or T (powers of 1024); RATE is bytes per
# second; none lifts a limit. A quota counts the files the user owns, wherever they are.";
/// Slowest rate accepted: slower, one buffer would take minutes and clients time out.
pub const MIN_RATE: u64 = 1024;

/// One key of a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// Bytes the user's files may take in all.
    Quota,
    /// Files the user may own.
    Files,
    /// Bytes per second, all the user's uploads together.
    UploadRate,
    /// Bytes per second, all the user's downloads together.
    DownloadRate,
}

impl Key {
    pub const ALL: [Key; 4] = [Key::Quota, Key::Files, Key::UploadRate, Key::DownloadRate];

    pub fn as_str(self) -> &'static str {
        match self {
            Key::Quota => "quota",
            Key::Files => "files",
            Key::UploadRate => "upload_rate",
            Key::DownloadRate => "download_rate",
        }
    }

    fn index(self) -> usize {
        self as usize
    }

    fn parse(word: &str) -> Option<Key> {
        Key::ALL.into_iter().find(|k| k.as_str() == word)
    }
}

/// What a line says about one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setting {
    Limit(u64),
    /// `none`: no limit, whatever the `*` line says.
    Unlimited,
}

impl Setting {
    /// Parses a value for `key`: `none`, a count for `files`, else a size (`10G`, `512K`,
    /// `2MiB`); a rate may end in `/s` and is at least `MIN_RATE`. The error is one line.
    pub fn parse(key: Key, value: &str) -> Result<Setting, String> {
        if value.eq_ignore_ascii_case("none") {
            return Ok(Setting::Unlimited);
        }
        // A hand edit's bytes are shown escaped, never raw.
        let shown = value.escape_debug();
        let n = match key {
            Key::Files => value
                .parse::<u64>()
                .map_err(|_| format!("files={shown}: expected a whole number or none"))?,
            Key::Quota => parse_size(value).ok_or_else(|| {
                format!("quota={shown}: expected a size such as 500M or 10G, or none")
            })?,
            Key::UploadRate | Key::DownloadRate => {
                let bytes = value.strip_suffix("/s").unwrap_or(value);
                let rate = parse_size(bytes).ok_or_else(|| {
                    format!(
                        "{}={shown}: expected bytes per second such as 512K or 2M, or none",
                        key.as_str()
                    )
                })?;
                if rate < MIN_RATE {
                    return Err(format!(
                        "{}={shown}: the slowest rate is 1K (1024 bytes per second)",
                        key.as_str()
                    ));
                }
                rate
            }
        };
        Ok(Setting::Limit(n))
    }

    fn limit(self) -> Option<u64> {
        match self {
            Setting::Limit(n) => Some(n),
            Setting::Unlimited => None,
        }
    }

    fn show(self, key: Key) -> String {
        match (self, key) {
            (Setting::Unlimited, _) => "none".into(),
            (Setting::Limit(n), Key::Files) => n.to_string(),
            (Setting::Limit(n), _) => format_size(n),
        }
    }
}

/// `123`, `512K`, `10G`, `2MiB`, `1kb` (units are powers of 1024, any case); None if not
/// a size or too large.
pub fn parse_size(text: &str) -> Option<u64> {
    let digits = text.len() - text.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    if digits == 0 {
        return None;
    }
    let (number, unit) = text.split_at(digits);
    let unit = unit.to_ascii_uppercase();
    let unit = unit
        .strip_suffix("IB")
        .or_else(|| unit.strip_suffix('B'))
        .unwrap_or(&unit);
    let shift = match unit {
        "" => 0,
        "K" => 10,
        "M" => 20,
        "G" => 30,
        "T" => 40,
        _ => return None,
    };
    let n: u64 = number.parse().ok()?;
    n.checked_mul(1u64 << shift)
}

/// The shortest exact form `parse_size` reads back: `10G`, `1536K`, `1000`.
pub fn format_size(n: u64) -> String {
    for (shift, unit) in [(40, "T"), (30, "G"), (20, "M"), (10, "K")] {
        if n != 0 && n.is_multiple_of(1u64 << shift) {
            return format!("{}{unit}", n >> shift);
        }
    }
    n.to_string()
}

/// The limits that apply to one account; None means no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UserLimits {
    pub quota_bytes: Option<u64>,
    pub quota_files: Option<u64>,
    pub upload_rate: Option<u64>,
    pub download_rate: Option<u64>,
}

impl UserLimits {
    fn from_settings(values: &[Option<Setting>; 4]) -> UserLimits {
        let get = |k: Key| values[k.index()].and_then(Setting::limit);
        UserLimits {
            quota_bytes: get(Key::Quota),
            quota_files: get(Key::Files),
            upload_rate: get(Key::UploadRate),
            download_rate: get(Key::DownloadRate),
        }
    }

    /// True when a quota (bytes or files) applies.
    pub fn has_quota(&self) -> bool {
        self.quota_bytes.is_some() || self.quota_files.is_some()
    }
}

impl fmt::Display for UserLimits {
    /// `quota=10G files=none upload_rate=none download_rate=2M`: every key, as a line says it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let values = [
            self.quota_bytes,
            self.quota_files,
            self.upload_rate,
            self.download_rate,
        ];
        for (i, (key, value)) in Key::ALL.into_iter().zip(values).enumerate() {
            let setting = value.map_or(Setting::Unlimited, Setting::Limit);
            let sep = if i == 0 { "" } else { " " };
            write!(f, "{sep}{}={}", key.as_str(), setting.show(key))?;
        }
        Ok(())
    }
}

/// Shared, cheap-to-clone view of `DIR/data/limits.txt`. A missing file limits no one.
#[derive(Clone)]
pub struct Limits {
    file: Arc<HotFile<LimitsFile>>,
}

impl Limits {
    /// Loads `data_dir/limits.txt`; a malformed line is `Err(Error::LimitsMalformed { .. })`.
    pub fn open(data_dir: &Path) -> Result<Limits, Error> {
        Ok(Limits {
            file: Arc::new(HotFile::open(data_dir)?),
        })
    }

    pub fn path(&self) -> &Path {
        self.file.path()
    }

    /// What applies to `user`: the user's own line, each key it does not set taken from the
    /// `*` line (admins: their own line only, so a default meant for users never stops one).
    pub fn for_user(&self, user: &str, admin: bool) -> UserLimits {
        let file = self.current();
        let (own, default) = (file.0.own(user), file.0.default_rule());
        let mut values = [None; 4];
        for key in Key::ALL {
            let i = key.index();
            values[i] = own.and_then(|r| r.values[i]);
            if values[i].is_none() && !admin {
                values[i] = default.and_then(|r| r.values[i]);
            }
        }
        UserLimits::from_settings(&values)
    }

    /// Sets keys on `name`'s line (`*` for the default line), creating the line (and the file,
    /// with its header) as needed; `None` takes a key off the line, and a line left with no
    /// key goes. A locked read-modify-write from a fresh read, as for the other files.
    pub fn set(&self, name: &str, changes: &[(Key, Option<Setting>)]) -> Result<(), Error> {
        let who = if name == DEFAULT_NAME {
            Who::Default
        } else {
            Who::User(UserName::parse(name)?)
        };
        let mut edit = self.file.edit()?;
        edit.apply(who, changes);
        edit.write()?.install();
        Ok(())
    }

    /// Drops `name`'s line (a later account of the same name starts from `*`). No line: no
    /// change, and a missing file stays missing.
    pub fn remove_user(&self, name: &str) -> Result<(), Error> {
        let mut edit = self.file.edit()?;
        if edit.0.remove(name) {
            edit.write()?.install();
        }
        Ok(())
    }

    /// Reloads limits.txt if it changed on disk; true if it did. Call every second or so.
    pub fn reload_if_changed(&self) -> bool {
        self.file.reload_if_changed()
    }

    /// Bumped on every reload and change.
    pub fn generation(&self) -> u64 {
        self.file.generation()
    }

    fn current(&self) -> Current<'_, LimitsFile> {
        self.file.current()
    }
}

impl fmt::Debug for Limits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Limits")
            .field("path", &self.path())
            .field("rules", &self.current().0.rules().count())
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    who: Who,
    /// Indexed by `Key::index`; None: not on this line.
    values: [Option<Setting>; 4],
}

impl Rule {
    fn text(&self) -> String {
        let mut out = format!("{}:", self.who.as_str());
        for key in Key::ALL {
            if let Some(v) = self.values[key.index()] {
                out.push_str(&format!(" {}={}", key.as_str(), v.show(key)));
            }
        }
        out
    }
}

impl UserRule for Rule {
    fn who(&self) -> &Who {
        &self.who
    }
}

/// The whole file, in order; lines are kept as written unless an edit changes them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct LimitsFile(UserLines<Rule>);

impl Format for LimitsFile {
    const FILE: &'static str = LIMITS_FILE;
    const LOCK: &'static str = LOCK_FILE;
    const MODE: u32 = FILE_MODE;
    const WHAT: &'static str = "limits";

    fn parse(text: &str) -> Result<LimitsFile, Error> {
        UserLines::parse(text, parse_rule, |line, what| Error::LimitsMalformed {
            line,
            what,
        })
        .map(LimitsFile)
    }

    fn serialize(&self) -> String {
        self.0.serialize()
    }

    fn missing() -> LimitsFile {
        LimitsFile::default()
    }

    fn created() -> LimitsFile {
        LimitsFile(UserLines {
            lines: LIMITS_HEADER
                .lines()
                .map(|l| Line::Verbatim(l.to_string()))
                .collect(),
        })
    }
}

impl LimitsFile {
    /// Changes (or adds, at the end) the line of `who`; a line left empty goes.
    fn apply(&mut self, who: Who, changes: &[(Key, Option<Setting>)]) {
        let at = self.0.position(&who);
        let lines = &mut self.0.lines;
        let mut rule = match at.map(|i| &lines[i]) {
            Some(Line::Rule { rule, .. }) => rule.clone(),
            _ => Rule {
                who,
                values: [None; 4],
            },
        };
        for (key, value) in changes {
            rule.values[key.index()] = *value;
        }
        let keep = rule.values.iter().any(Option::is_some);
        let line = Line::Rule {
            text: rule.text(),
            rule,
        };
        match (at, keep) {
            (Some(i), true) => lines[i] = line,
            (Some(i), false) => {
                lines.remove(i);
            }
            (None, true) => lines.push(line),
            (None, false) => {}
        }
    }
}

/// Parses `name: key=value ...` (comment removed, trimmed, not empty).
fn parse_rule(content: &str) -> Result<Rule, String> {
    let Some((name, list)) = content.split_once(':') else {
        return Err("expected name: key=value ... (no ':' after the name)".into());
    };
    let who = Who::parse(name.trim())?;
    let mut values = [None; 4];
    for item in list.split_whitespace() {
        let Some((word, value)) = item.split_once('=') else {
            return Err(format!("{item:?}: expected key=value"));
        };
        let key = Key::parse(word).ok_or_else(|| {
            format!("unknown key {word:?} (expected quota, files, upload_rate or download_rate)")
        })?;
        if values[key.index()].is_some() {
            return Err(format!("{word} set twice"));
        }
        values[key.index()] = Some(Setting::parse(key, value)?);
    }
    if values.iter().all(Option::is_none) {
        return Err(
            "no limit on the line (expected quota=, files=, upload_rate= or download_rate=)".into(),
        );
    }
    Ok(Rule { who, values })
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;

    fn with_file(text: &str) -> (tempfile::TempDir, Limits) {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(LIMITS_FILE), text).unwrap();
        let limits = Limits::open(dir.path()).unwrap();
        (dir, limits)
    }

    fn malformed(text: &str) -> (usize, String) {
        match LimitsFile::parse(text) {
            Err(Error::LimitsMalformed { line, what }) => (line, what),
            Err(other) => panic!("unexpected error {other}"),
            Ok(_) => panic!("parsed: {text}"),
        }
    }

    #[test]
    fn sizes_read_and_print_with_units() {
        let cases = [
            ("0", 0),
            ("1000", 1000),
            ("512K", 512 << 10),
            ("2m", 2 << 20),
            ("2MiB", 2 << 20),
            ("10GB", 10 << 30),
            ("3T", 3 << 40),
        ];
        for (text, n) in cases {
            assert_eq!(parse_size(text), Some(n), "{text}");
        }
        for bad in ["", "K", "1.5G", "-1", "10X", "1 G", "99999999999T"] {
            assert_eq!(parse_size(bad), None, "{bad}");
        }
        assert_eq!(format_size(10 << 30), "10G");
        assert_eq!(format_size(1536 << 10), "1536K");
        assert_eq!(format_size(1000), "1000");
        assert_eq!(format_size(0), "0");
    }

    #[test]
    fn a_users_line_takes_missing_keys_from_the_default_and_admins_only_their_own() {
        let (_dir, limits) = with_file(
            "*: quota=1G files=100 download_rate=1M\n\
             alice: quota=5G upload_rate=512K/s download_rate=none  # more room\n\
             root: files=10\n",
        );
        let alice = limits.for_user("Alice", false);
        assert_eq!(
            alice,
            UserLimits {
                quota_bytes: Some(5 << 30),
                quota_files: Some(100),
                upload_rate: Some(512 << 10),
                download_rate: None,
            }
        );
        assert_eq!(
            alice.to_string(),
            "quota=5G files=100 upload_rate=512K download_rate=none"
        );
        let bob = limits.for_user("bob", false);
        assert_eq!(bob.quota_bytes, Some(1 << 30));
        assert_eq!(bob.download_rate, Some(1 << 20));
        assert_eq!(limits.for_user("admin", true), UserLimits::default());
        assert_eq!(limits.for_user("root", true).quota_files, Some(10));
        assert!(limits.for_user("root", true).has_quota());
    }

    #[test]
    fn a_missing_file_limits_no_one_and_is_not_created() {
        let dir = tempfile::tempdir().unwrap();
        let limits = Limits::open(dir.path()).unwrap();
        assert_eq!(limits.for_user("alice", false), UserLimits::default());
        assert!(!dir.path().join(LIMITS_FILE).exists());
        limits.remove_user("alice").unwrap();
        assert!(!dir.path().join(LIMITS_FILE).exists());
    }

    #[test]
    fn malformed_lines_name_line_and_problem() {
        let ok = "# header\n*: quota=1G\n";
        let cases = [
            (format!("{ok}bob quota=1G\n"), 3, "no ':' after the name"),
            (format!("{ok}bob: quota\n"), 3, "expected key=value"),
            (format!("{ok}bob: size=1G\n"), 3, "unknown key \"size\""),
            (
                format!("{ok}bob: quota=lots\n"),
                3,
                "quota=lots: expected a size",
            ),
            (
                format!("{ok}bob: files=1K\n"),
                3,
                "files=1K: expected a whole number",
            ),
            (
                format!("{ok}bob: upload_rate=10\n"),
                3,
                "the slowest rate is 1K",
            ),
            (
                format!("{ok}bob: quota=1G quota=2G\n"),
                3,
                "quota set twice",
            ),
            (format!("{ok}bob:   # nothing\n"), 3, "no limit on the line"),
            (format!("{ok}*: files=1\n"), 3, "duplicate line for \"*\""),
            (
                format!("{ok}Bob: files=1\nbob: files=2\n"),
                4,
                "duplicate line for user \"Bob\"",
            ),
            (format!("{ok}a/b: files=1\n"), 3, "invalid user name"),
            (
                format!("{ok}bob: files=\u{1b}[2J\n"),
                3,
                "files=\\u{1b}[2J: expected",
            ),
        ];
        for (text, line, what) in cases {
            let (l, w) = malformed(&text);
            assert_eq!(l, line, "{text}");
            assert!(w.contains(what), "{text}: {w}");
        }
        let err = Limits::open(&write_dir("x: files=two\n")).unwrap_err();
        assert!(
            err.to_string().starts_with("limits.txt:1: files=two"),
            "{err}"
        );
    }

    fn write_dir(text: &str) -> std::path::PathBuf {
        let dir = tempfile::tempdir().unwrap().keep();
        fs::write(dir.join(LIMITS_FILE), text).unwrap();
        dir
    }

    #[test]
    fn edits_keep_other_lines_and_comments_and_drop_empty_lines() {
        let dir = tempfile::tempdir().unwrap();
        let limits = Limits::open(dir.path()).unwrap();
        let set =
            |name: &str, changes: &[(Key, Option<Setting>)]| limits.set(name, changes).unwrap();
        set("alice", &[(Key::Quota, Some(Setting::Limit(10 << 30)))]);
        let path = dir.path().join(LIMITS_FILE);
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(text, format!("{LIMITS_HEADER}\nalice: quota=10G\n"));
        fs::write(&path, format!("{text}# keep me\n*: files=5\n")).unwrap();
        limits.reload_if_changed();
        set(
            "alice",
            &[
                (Key::DownloadRate, Some(Setting::Unlimited)),
                (Key::Files, Some(Setting::Limit(7))),
            ],
        );
        set("*", &[(Key::UploadRate, Some(Setting::Limit(1 << 20)))]);
        let text = fs::read_to_string(&path).unwrap();
        assert!(
            text.ends_with("alice: quota=10G files=7 download_rate=none\n# keep me\n*: files=5 upload_rate=1M\n"),
            "{text}"
        );
        assert_eq!(limits.for_user("alice", false).upload_rate, Some(1 << 20));
        set(
            "alice",
            &[
                (Key::Quota, None),
                (Key::Files, None),
                (Key::DownloadRate, None),
            ],
        );
        assert!(!fs::read_to_string(&path).unwrap().contains("alice"));
        assert!(matches!(limits.set("a b", &[]), Err(Error::InvalidName(_))));
        set("bob", &[(Key::Files, Some(Setting::Limit(1)))]);
        limits.remove_user("BOB").unwrap();
        assert!(!fs::read_to_string(&path).unwrap().contains("bob"));
    }
}
