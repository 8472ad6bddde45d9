//! LIST, NLST, MLSD, MLST (and STAT with a path, which lists over the control connection).

use std::time::SystemTime;

use crate::protocol::listing::{self, EntryFacts};
use crate::protocol::{Reply, codes};
use crate::server::session::{Session, SessionError};

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

impl Session<'_> {
    fn entries(&self, path: &str, all: bool) -> Result<Vec<EntryFacts>, SessionError> {
        let target = self.resolve(if path.is_empty() { "." } else { path })?;
        Ok(self.shared.storage.list(&self.grants, &target, all)?)
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
    use super::split_flags;

    #[test]
    fn ls_flags() {
        assert_eq!(split_flags(Some("-la")), (true, ""));
        assert_eq!(split_flags(Some("-l  sub dir")), (false, "sub dir"));
        assert_eq!(split_flags(Some("-a -l x")), (true, "x"));
        assert_eq!(split_flags(None), (false, ""));
    }
}
