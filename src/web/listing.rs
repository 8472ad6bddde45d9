//! A directory as the file browser shows it: rows from the server's MLSD facts (RFC 3659),
//! or from `ls -l` style LIST lines where the server has no MLSD; what the server says this
//! user may do with each entry (the `perm` fact); sorting and the search filter.

use std::cmp::Ordering;
use std::time::SystemTime;

use chrono::{DateTime, Datelike, Utc};

use crate::protocol::listing::parse_timeval;

/// What the server allows on one entry, from its `perm` fact. `None` (a LIST-only server)
/// means "not told": everything is offered, and a refusal is explained where it happens.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Perm(Option<String>);

impl Perm {
    pub fn told(facts: &str) -> Perm {
        Perm(Some(facts.to_ascii_lowercase()))
    }

    pub fn unknown() -> Perm {
        Perm(None)
    }

    /// The `perm` fact of an MLST facts line (`type=dir;perm=el; /path`), whatever the type.
    pub fn of_mlst(line: &str) -> Perm {
        let facts = line.split_once(' ').map_or(line, |(f, _)| f);
        facts
            .split(';')
            .filter_map(|f| f.split_once('='))
            .find(|(k, _)| k.eq_ignore_ascii_case("perm"))
            .map_or_else(Perm::unknown, |(_, v)| Perm::told(v))
    }

    fn allows(&self, letter: char) -> bool {
        self.0.as_ref().is_none_or(|p| p.contains(letter))
    }

    /// A file may be downloaded (`r`).
    pub fn read(&self) -> bool {
        self.allows('r')
    }

    /// The entry may be deleted (`d`).
    pub fn delete(&self) -> bool {
        self.allows('d')
    }

    /// The entry may be renamed or moved (`f`).
    pub fn rename(&self) -> bool {
        self.allows('f')
    }

    /// A directory's entries may be listed (`l`).
    pub fn list(&self) -> bool {
        self.allows('l')
    }

    /// Files may be created in this directory (`c`).
    pub fn create(&self) -> bool {
        self.allows('c')
    }

    /// Directories may be made in this directory (`m`).
    pub fn mkdir(&self) -> bool {
        self.allows('m')
    }
}

/// One row of the file browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub name: String,
    pub is_dir: bool,
    pub size: u64,
    /// `ls -l` permissions, when the server lists them (LIST only).
    pub perms: String,
    pub owner: String,
    /// When known exactly (MLSD `modify`): for sorting and for the date shown.
    pub modified: Option<SystemTime>,
    /// The date as LIST gave it, when there is no `modified`.
    pub date: String,
    pub perm: Perm,
}

impl Row {
    /// One MLSD line: `fact=value;...; name`. `cdir`/`pdir` entries are not rows.
    pub fn from_mlsx(line: &str) -> Option<Row> {
        let (facts, name) = line.split_once(' ')?;
        if name.is_empty() {
            return None;
        }
        let mut row = Row {
            name: name.to_owned(),
            is_dir: false,
            size: 0,
            perms: String::new(),
            owner: String::new(),
            modified: None,
            date: String::new(),
            perm: Perm::unknown(),
        };
        for fact in facts.split(';').filter(|f| !f.is_empty()) {
            let (key, value) = fact.split_once('=').unwrap_or((fact, ""));
            match key.to_ascii_lowercase().as_str() {
                "type" => match value.to_ascii_lowercase().as_str() {
                    "dir" => row.is_dir = true,
                    "file" => {}
                    // The directory itself, its parent, or a kind we cannot handle.
                    _ => return None,
                },
                "size" => row.size = value.parse().unwrap_or(0),
                "modify" => row.modified = parse_timeval(value),
                "perm" => row.perm = Perm::told(value),
                "unix.owner" => row.owner = value.to_owned(),
                _ => {}
            }
        }
        Some(row)
    }

    /// Parses `perms links owner group size mon day time|year name`; other shapes fall back
    /// to the client's generic parser without owner and date.
    pub fn from_list(line: &str) -> Option<Row> {
        let mut fields = line.split_whitespace();
        let perms = fields.next()?;
        let parsed = (|| {
            let _links = fields.next()?;
            let owner = fields.next()?;
            let _group = fields.next()?;
            let size: u64 = fields.next()?.parse().ok()?;
            let date = [fields.next()?, fields.next()?, fields.next()?].join(" ");
            // The name is everything after the 8th field, spaces included.
            let name = nth_field_rest(line, 8)?;
            Some((owner.to_owned(), size, date, name.to_owned()))
        })();
        let row = match parsed {
            Some((owner, size, date, name)) if perms.len() == 10 => Row {
                is_dir: perms.starts_with('d'),
                perms: perms.to_owned(),
                name,
                size,
                owner,
                modified: None,
                date,
                perm: Perm::unknown(),
            },
            _ => {
                let e = crate::client::connection::Entry::parse(line)?;
                Row {
                    name: e.name,
                    is_dir: e.is_dir,
                    size: e.size,
                    perms: String::new(),
                    owner: String::new(),
                    modified: None,
                    date: String::new(),
                    perm: Perm::unknown(),
                }
            }
        };
        (row.name != "." && row.name != "..").then_some(row)
    }

    /// The date to show: `Nov 22 14:57` this year, `Nov 22 2024` otherwise (UTC, as the
    /// server stores it), or LIST's own text.
    pub fn date_text(&self, now: SystemTime) -> String {
        let Some(t) = self.modified else {
            return self.date.clone();
        };
        let (t, now): (DateTime<Utc>, DateTime<Utc>) = (t.into(), now.into());
        if t.year() == now.year() {
            t.format("%b %e %H:%M").to_string()
        } else {
            t.format("%b %e %Y").to_string()
        }
    }
}

/// The text after the first `n` whitespace-separated fields.
fn nth_field_rest(line: &str, n: usize) -> Option<&str> {
    let mut rest = line.trim_start();
    for _ in 0..n {
        let end = rest.find(char::is_whitespace)?;
        rest = rest[end..].trim_start();
    }
    (!rest.is_empty()).then_some(rest)
}

/// The column a listing is sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    Name,
    Size,
    Date,
}

impl SortKey {
    pub fn parse(s: &str) -> SortKey {
        match s {
            "size" => SortKey::Size,
            "date" => SortKey::Date,
            _ => SortKey::Name,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SortKey::Name => "name",
            SortKey::Size => "size",
            SortKey::Date => "date",
        }
    }
}

/// How the browser orders and filters a listing (from the page's query).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct View {
    pub sort: SortKey,
    pub descending: bool,
    /// Case-insensitive part of a name; empty shows everything.
    pub search: String,
}

impl Default for View {
    fn default() -> View {
        View {
            sort: SortKey::Name,
            descending: false,
            search: String::new(),
        }
    }
}

impl View {
    /// Directories first, then files, each group in the chosen order (ties by name); only
    /// names containing the search text.
    pub fn apply<'a>(&self, rows: &'a [Row]) -> Vec<&'a Row> {
        let needle = self.search.trim().to_lowercase();
        let mut shown: Vec<&Row> = rows
            .iter()
            .filter(|r| needle.is_empty() || r.name.to_lowercase().contains(&needle))
            .collect();
        shown.sort_by(|a, b| b.is_dir.cmp(&a.is_dir).then_with(|| self.order(a, b)));
        shown
    }

    fn order(&self, a: &Row, b: &Row) -> Ordering {
        let by_key = match self.sort {
            SortKey::Name => Ordering::Equal,
            SortKey::Size => a.size.cmp(&b.size),
            SortKey::Date => a.modified.cmp(&b.modified),
        };
        let by_name = || a.name.to_lowercase().cmp(&b.name.to_lowercase());
        let ordered = by_key.then_with(by_name).then_with(|| a.name.cmp(&b.name));
        if self.descending {
            ordered.reverse()
        } else {
            ordered
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn rows_from_ls_lines() {
        let r =
            Row::from_list("-rw-------   1 alice    ftp          1234 Nov 22 14:57 my file.txt")
                .unwrap();
        assert_eq!(r.name, "my file.txt");
        assert_eq!(
            (r.size, r.owner.as_str(), r.date.as_str()),
            (1234, "alice", "Nov 22 14:57")
        );
        assert_eq!(r.perm, Perm::unknown());
        assert!(r.perm.delete() && r.perm.rename() && r.perm.read());
        assert!(
            Row::from_list("drwxr-xr-x   2 nobody   ftp          4096 Jan  1  2020 Public")
                .unwrap()
                .is_dir
        );
        assert_eq!(
            Row::from_list("drwxr-xr-x 2 a b 4096 Jan  1  2020 .."),
            None
        );
    }

    #[test]
    fn rows_from_mlsd_facts() {
        let r =
            Row::from_mlsx("type=file;size=5;modify=20231114221320;perm=r;UNIX.owner=bob; a b.txt")
                .unwrap();
        assert_eq!((r.name.as_str(), r.size, r.is_dir), ("a b.txt", 5, false));
        assert_eq!(r.owner, "bob");
        assert!(r.perm.read() && !r.perm.delete() && !r.perm.rename());
        let d = Row::from_mlsx("type=dir;perm=cdeflmp; sub").unwrap();
        assert!(d.is_dir && d.perm.delete() && d.perm.create() && d.perm.mkdir());
        assert_eq!(Row::from_mlsx("type=cdir;perm=el; /x"), None);
        assert_eq!(Row::from_mlsx("type=OS.unix=slink; l"), None);
        assert_eq!(Row::from_mlsx("no-space-no-name"), None);
        let here = Perm::of_mlst("type=cdir;Perm=EL; /pub");
        assert!(!here.create() && !here.mkdir());
        assert!(Perm::of_mlst("type=dir;perm=celm; /x").create());
        assert_eq!(Perm::of_mlst("type=dir; /x"), Perm::unknown());
    }

    #[test]
    fn dates_carry_the_year_unless_it_is_this_one() {
        let now = parse_timeval("20261203120000").unwrap();
        let mut r = Row::from_mlsx("type=file;modify=20261122145700; f").unwrap();
        assert_eq!(r.date_text(now), "Nov 22 14:57");
        r.modified = parse_timeval("20241122145700");
        assert_eq!(r.date_text(now), "Nov 22 2024");
        r.modified = None;
        r.date = "Jan  1  2020".into();
        assert_eq!(r.date_text(now), "Jan  1  2020");
    }

    #[test]
    fn sorting_keeps_directories_first_and_search_filters() {
        let at = |s: u64| Some(SystemTime::UNIX_EPOCH + Duration::from_secs(s));
        let row = |name: &str, dir: bool, size: u64, t: u64| Row {
            name: name.into(),
            is_dir: dir,
            size,
            perms: String::new(),
            owner: String::new(),
            modified: at(t),
            date: String::new(),
            perm: Perm::unknown(),
        };
        let rows = vec![
            row("b.txt", false, 30, 1),
            row("A.txt", false, 10, 3),
            row("zdir", true, 0, 2),
            row("c.log", false, 20, 2),
            row("adir", true, 0, 9),
        ];
        let names =
            |v: &View| -> Vec<&str> { v.apply(&rows).iter().map(|r| r.name.as_str()).collect() };
        let mut v = View::default();
        assert_eq!(names(&v), ["adir", "zdir", "A.txt", "b.txt", "c.log"]);
        v.sort = SortKey::Size;
        assert_eq!(names(&v), ["adir", "zdir", "A.txt", "c.log", "b.txt"]);
        v.descending = true;
        assert_eq!(names(&v), ["zdir", "adir", "b.txt", "c.log", "A.txt"]);
        v.sort = SortKey::Date;
        v.descending = false;
        assert_eq!(names(&v), ["zdir", "adir", "b.txt", "c.log", "A.txt"]);
        v.search = "TXT".into();
        assert_eq!(names(&v), ["b.txt", "A.txt"]);
    }
}
