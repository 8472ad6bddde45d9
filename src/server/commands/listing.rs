//! LIST, NLST, MLSD, MLST (and STAT with a path, which lists over the control connection).

use std::time::SystemTime;

use crate::protocol::listing::{self, EntryFacts};
use crate::protocol::{Reply, codes};
use crate::server::session::{Session, SessionError};
use crate::storage;

/// `LIST -la path` → (show dot files, path). Leading `-xyz` words are `ls` flags.
fn split_flags(arg: Option<&str>) -> (bool, &str) {
    let mut rest = arg.unwrap_or("").trim_start();
    let mut all = false;
    while rest.starts_with('-') {
        let (word, tail) = rest.split_once(' ').unwrap_or((rest, ""));
        all |= word.contains('a');
        rest = tail.trim_start();
    }
    (all, rest)
}

/// SECURITY: a glob with many stars can make matching slow over a large directory; more
/// than this many are refused like a name that matches nothing.
const MAX_WILDCARD_STARS: usize = 4;

/// `d/f0*.bin` → (`d/`, `f0*.bin`) when the last component holds a shell wildcard.
fn split_wildcard(path: &str) -> Option<(&str, &str)> {
    let (dir, last) = match path.rfind('/') {
        Some(i) => path.split_at(i + 1),
        None => ("", path),
    };
    last.contains(['*', '?', '[']).then_some((dir, last))
}

impl Session<'_> {
    /// What LIST/NLST/STAT show for `path`: a directory's entries, a file itself, or (when
    /// nothing has that name and its last component is a shell wildcard, as vsftpd does) the
    /// entries it matches, named with the directory part as given.
    fn entries(&self, path: &str, all: bool) -> Result<Vec<EntryFacts>, SessionError> {
        let literal = self
            .resolve(if path.is_empty() { "." } else { path })
            .and_then(|target| self.shared.storage.list(&self.grants, &target, all));
        match (literal, split_wildcard(path)) {
            (Err(storage::Error::NotFound), Some((dir, pattern))) => self.matching(dir, pattern),
            (literal, _) => Ok(literal?),
        }
    }

    /// The entries of `dir` whose names match `pattern` (`*`, `?`, `[set]`); a pattern
    /// matches dot files only when it starts with `.`. Others' private entries are never
    /// listed, so they never match. No match: 550, as for a missing name.
    fn matching(&self, dir: &str, pattern: &str) -> Result<Vec<EntryFacts>, SessionError> {
        let not_found = || SessionError::Storage(storage::Error::NotFound);
        if pattern.matches('*').count() > MAX_WILDCARD_STARS {
            return Err(not_found());
        }
        let matcher = glob::Pattern::new(pattern).map_err(|_| not_found())?;
        let options = glob::MatchOptions {
            case_sensitive: true,
            require_literal_separator: true,
            require_literal_leading_dot: true,
        };
        let parent = self.resolve(if dir.is_empty() { "." } else { dir })?;
        let mut found: Vec<EntryFacts> = self
            .shared
            .storage
            .list(&self.grants, &parent, true)?
            .into_iter()
            .filter(|e| matcher.matches_with(&e.name, options))
            .collect();
        if found.is_empty() {
            return Err(not_found());
        }
        for e in &mut found {
            e.name.insert_str(0, dir);
        }
        Ok(found)
    }

    pub(super) fn list(&mut self, arg: Option<&str>) -> Result<Reply, SessionError> {
        let (all, path) = split_flags(arg);
        let entries = self.entries(path, all)?;
        let now = SystemTime::now();
        let mut body = String::with_capacity(entries.len() * 80);
        for e in &entries {
            listing::ls_line(e, now, &mut body);
            body.push_str("\r\n");
        }
        self.send_listing(body.as_bytes())
    }

    pub(super) fn nlst(&mut self, arg: Option<&str>) -> Result<Reply, SessionError> {
        let (all, path) = split_flags(arg);
        let entries = self.entries(path, all)?;
        let mut body = String::with_capacity(entries.len() * 24);
        for e in &entries {
            body.push_str(&e.name);
            body.push_str("\r\n");
        }
        self.send_listing(body.as_bytes())
    }

    pub(super) fn mlsd(&mut self, arg: Option<&str>) -> Result<Reply, SessionError> {
        let target = self.resolve(arg.unwrap_or("."))?;
        if !self.shared.storage.metadata(&target)?.is_dir() {
            return Ok(Reply::new(
                codes::PARAMETER_ERROR,
                "MLSD needs a directory.",
            ));
        }
        let entries = self.shared.storage.list(&self.grants, &target, true)?;
        let mut body = String::with_capacity(entries.len() * 100);
        for e in &entries {
            listing::mlsx_line(e, self.mlst_facts, &mut body);
            body.push_str("\r\n");
        }
        self.send_listing(body.as_bytes())
    }

    pub(super) fn mlst(&mut self, arg: Option<&str>) -> Result<Reply, SessionError> {
        let target = self.resolve(arg.unwrap_or("."))?;
        let meta = self.shared.storage.metadata(&target)?;
        let mut facts = self.shared.storage.facts(&self.grants, &target, &meta);
        facts.name = target.virt.as_str().to_owned();
        let mut line = String::new();
        listing::mlsx_line(&facts, self.mlst_facts, &mut line);
        Ok(Reply::multi(
            codes::FILE_ACTION_OK,
            format!("Listing {}", target.virt),
            vec![line],
            "End",
        ))
    }

    /// STAT path: the LIST output on the control connection (RFC 959 STAT with argument).
    pub(super) fn stat_path(&mut self, arg: &str) -> Result<Reply, SessionError> {
        let (all, path) = split_flags(Some(arg));
        let entries = self.entries(path, all)?;
        let now = SystemTime::now();
        let lines = entries
            .iter()
            .map(|e| {
                let mut s = String::new();
                listing::ls_line(e, now, &mut s);
                s
            })
            .collect();
        Ok(Reply::multi(
            codes::FILE_STATUS,
            format!("Status of {path}:"),
            lines,
            "End of status",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::{split_flags, split_wildcard};

    #[test]
    fn wildcards_only_in_the_last_component() {
        assert_eq!(split_wildcard("f0*.bin"), Some(("", "f0*.bin")));
        assert_eq!(
            split_wildcard("/alice/d/f01?.bin"),
            Some(("/alice/d/", "f01?.bin"))
        );
        assert_eq!(split_wildcard("[ab].txt"), Some(("", "[ab].txt")));
        assert_eq!(split_wildcard("d*/file"), None);
        assert_eq!(split_wildcard("plain.txt"), None);
    }

    #[test]
    fn ls_flags() {
        assert_eq!(split_flags(Some("-la")), (true, ""));
        assert_eq!(split_flags(Some("-l  sub dir")), (false, "sub dir"));
        assert_eq!(split_flags(Some("-a -l x")), (true, "x"));
        assert_eq!(split_flags(None), (false, ""));
    }
}
