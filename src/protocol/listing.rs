//! Listing formats: `ls -l` lines for LIST and RFC 3659 facts for MLSD/MLST. Pure formatting
//! of facts that `storage` gathered; no disk access here.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Datelike, Utc};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    File,
    Dir,
}

/// What a listing line says about one entry.
#[derive(Debug, Clone)]
pub struct EntryFacts {
    pub name: String,
    pub kind: EntryKind,
    pub size: u64,
    pub modified: SystemTime,
    /// Owning user, or `None` for a file found on disk with no record.
    pub owner: Option<String>,
    /// Public entries show other-read bits; private ones do not.
    pub public: bool,
    /// RFC 3659 `perm` fact for this session (`r`, `w`, `a`, `d`, `f`, `c`, `e`, `l`, `m`, `p`).
    pub perm: String,
    /// Device and inode, for the `unique` fact.
    pub unique: (u64, u64),
}

/// Which MLSx facts to emit (OPTS MLST).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FactSet {
    pub kind: bool,
    pub size: bool,
    pub modify: bool,
    pub perm: bool,
    pub unique: bool,
    pub owner: bool,
}

impl Default for FactSet {
    fn default() -> Self {
        FactSet {
            kind: true,
            size: true,
            modify: true,
            perm: true,
            unique: true,
            owner: true,
        }
    }
}

impl FactSet {
    /// Applies `OPTS MLST type;size;` (unknown names ignored, as RFC 3659 7.9 asks).
    pub fn select(list: &str) -> FactSet {
        let mut set = FactSet {
            kind: false,
            size: false,
            modify: false,
            perm: false,
            unique: false,
            owner: false,
        };
        for fact in list.split(';').map(|f| f.trim().to_ascii_lowercase()) {
            match fact.as_str() {
                "type" => set.kind = true,
                "size" => set.size = true,
                "modify" => set.modify = true,
                "perm" => set.perm = true,
                "unique" => set.unique = true,
                "unix.owner" => set.owner = true,
                _ => {}
            }
        }
        set
    }

    /// The fact list for FEAT and the OPTS reply, selected ones starred.
    pub fn feat_line(&self) -> String {
        let star = |on: bool| if on { "*" } else { "" };
        format!(
            "type{};size{};modify{};perm{};unique{};UNIX.owner{};",
            star(self.kind),
            star(self.size),
            star(self.modify),
            star(self.perm),
            star(self.unique),
            star(self.owner)
        )
    }

    pub fn selected(&self) -> String {
        let mut s = String::new();
        for (on, name) in [
            (self.kind, "type"),
            (self.size, "size"),
            (self.modify, "modify"),
            (self.perm, "perm"),
            (self.unique, "unique"),
            (self.owner, "UNIX.owner"),
        ] {
            if on {
                s.push_str(name);
                s.push(';');
            }
        }
        s
    }
}

/// One `ls -l` line, without CRLF:
/// `-rw-r--r-- 1 alice    ftp          1234 Nov 22 14:57 name`.
pub fn ls_line(e: &EntryFacts, now: SystemTime, out: &mut String) {
    let mode = match (e.kind, e.public) {
        (EntryKind::Dir, true) => "drwxr-xr-x",
        (EntryKind::Dir, false) => "drwx------",
        (EntryKind::File, true) => "-rw-r--r--",
        (EntryKind::File, false) => "-rw-------",
    };
    let owner = e.owner.as_deref().unwrap_or("nobody");
    let links = if e.kind == EntryKind::Dir { 2 } else { 1 };
    let _ = write!(
        out,
        "{mode} {links:>3} {owner:<8} {group:<8} {size:>12} ",
        group = "ftp",
        size = e.size
    );
    ls_date(e.modified, now, out);
    out.push(' ');
    out.push_str(&e.name);
}

/// `Mon DD HH:MM` within six months of now, `Mon DD  YYYY` otherwise (as GNU ls).
fn ls_date(t: SystemTime, now: SystemTime, out: &mut String) {
    const HALF_YEAR: Duration = Duration::from_secs(182 * 24 * 3600);
    let dt: DateTime<Utc> = t.into();
    let recent = match now.duration_since(t) {
        Ok(age) => age < HALF_YEAR,
        Err(ahead) => ahead.duration() < Duration::from_secs(3600),
    };
    if recent {
        let _ = write!(out, "{}", dt.format("%b %e %H:%M"));
    } else {
        let _ = write!(out, "{} {:>5}", dt.format("%b %e"), dt.year());
    }
}

/// `YYYYMMDDHHMMSS` in UTC (MDTM, MFMT and the `modify` fact).
pub fn timeval(t: SystemTime) -> String {
    let dt: DateTime<Utc> = t.into();
    dt.format("%Y%m%d%H%M%S").to_string()
}

/// Parses `YYYYMMDDHHMMSS[.sss]` (UTC).
pub fn parse_timeval(s: &str) -> Option<SystemTime> {
    let whole = s.split('.').next()?;
    if whole.len() != 14 || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let naive = chrono::NaiveDateTime::parse_from_str(whole, "%Y%m%d%H%M%S").ok()?;
    let secs = naive.and_utc().timestamp();
    let secs = u64::try_from(secs).ok()?;
    SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(secs))
}

/// One MLSx line: `type=file;size=5;...; name` (no leading space, no CRLF).
pub fn mlsx_line(e: &EntryFacts, facts: FactSet, out: &mut String) {
    if facts.kind {
        out.push_str(match e.kind {
            EntryKind::File => "type=file;",
            EntryKind::Dir => "type=dir;",
        });
    }
    if facts.size {
        let _ = write!(out, "size={};", e.size);
    }
    if facts.modify {
        let _ = write!(out, "modify={};", timeval(e.modified));
    }
    if facts.perm {
        let _ = write!(out, "perm={};", e.perm);
    }
    if facts.unique {
        let _ = write!(out, "unique={:x}U{:x};", e.unique.0, e.unique.1);
    }
    if facts.owner {
        let _ = write!(
            out,
            "UNIX.owner={};",
            e.owner.as_deref().unwrap_or("nobody")
        );
    }
    out.push(' ');
    out.push_str(&e.name);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(kind: EntryKind, public: bool) -> EntryFacts {
        EntryFacts {
            name: "a b.txt".into(),
            kind,
            size: 1234,
            modified: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
            owner: Some("alice".into()),
            public,
            perm: "rwadf".into(),
            unique: (1, 255),
        }
    }

    #[test]
    fn ls_line_recent_and_old() {
        let e = facts(EntryKind::File, true);
        let mut s = String::new();
        ls_line(&e, e.modified + Duration::from_secs(60), &mut s);
        assert_eq!(
            s,
            "-rw-r--r--   1 alice    ftp              1234 Nov 14 22:13 a b.txt"
        );
        s.clear();
        let d = facts(EntryKind::Dir, false);
        ls_line(&d, d.modified + Duration::from_secs(400 * 86400), &mut s);
        assert_eq!(
            s,
            "drwx------   2 alice    ftp              1234 Nov 14  2023 a b.txt"
        );
    }

    #[test]
    fn mlsx_facts() {
        let mut s = String::new();
        mlsx_line(&facts(EntryKind::File, true), FactSet::default(), &mut s);
        assert_eq!(
            s,
            "type=file;size=1234;modify=20231114221320;perm=rwadf;unique=1Uff;UNIX.owner=alice; a b.txt"
        );
        let only = FactSet::select("size;TYPE;bogus");
        s.clear();
        mlsx_line(&facts(EntryKind::File, true), only, &mut s);
        assert_eq!(s, "type=file;size=1234; a b.txt");
        assert_eq!(
            only.feat_line(),
            "type*;size*;modify;perm;unique;UNIX.owner;"
        );
    }

    #[test]
    fn timevals() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(timeval(t), "20231114221320");
        assert_eq!(parse_timeval("20231114221320"), Some(t));
        assert_eq!(parse_timeval("20231114221320.123"), Some(t));
        assert_eq!(parse_timeval("2023111422132"), None);
    }
}
