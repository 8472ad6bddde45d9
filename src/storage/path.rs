//! `VirtualPath`: a client path resolved against the session's cwd into a normalised path of
//! the FTP namespace (`/`, `/Public/a.txt`). Purely lexical: no disk access here.

use std::fmt;

use crate::limits::{MAX_NAME_BYTES, MAX_PATH_BYTES};
use crate::storage::Error;

/// Prefix of names ferroftp keeps for itself (upload temp files); never visible to clients.
pub const RESERVED_PREFIX: &str = ".ferroftp-";

/// A normalised absolute FTP path: starts with `/`, no `.`/`..`/empty components, no
/// trailing slash except the root itself. Components are valid single file names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VirtualPath(String);

impl VirtualPath {
    pub fn root() -> VirtualPath {
        VirtualPath("/".to_owned())
    }

    /// `/<name>` for a top-level directory (a home or `Public`).
    pub fn top(name: &str) -> VirtualPath {
        VirtualPath(format!("/{name}"))
    }

    /// Resolves `arg` (absolute, or relative to `self`) into a new path.
    pub fn join(&self, arg: &str) -> Result<VirtualPath, Error> {
        // SECURITY: NUL would truncate the path at the OS boundary; refuse it outright.
        if arg.contains('\0') {
            return Err(Error::Refused("NUL byte in path"));
        }
        if arg.len() > MAX_PATH_BYTES {
            return Err(Error::Refused("path too long"));
        }
        let mut parts: Vec<&str> = if arg.starts_with('/') {
            Vec::new()
        } else {
            self.components().collect()
        };
        for part in arg.split('/') {
            match part {
                "" | "." => {}
                // SECURITY: `..` may climb inside the namespace but never above its root.
                ".." => {
                    if parts.pop().is_none() {
                        return Err(Error::Refused("\"..\" above the root"));
                    }
                }
                name => {
                    if name.len() > MAX_NAME_BYTES {
                        return Err(Error::Refused("name too long"));
                    }
                    // SECURITY: names end up in logs that fail2ban reads and in replies; a
                    // CR/LF or other control character could forge lines in either.
                    if name.chars().any(char::is_control) {
                        return Err(Error::Refused("control character in name"));
                    }
                    parts.push(name);
                }
            }
        }
        // SECURITY: our temp files are never addressable by clients.
        if parts.iter().any(|p| p.starts_with(RESERVED_PREFIX)) {
            return Err(Error::NotFound);
        }
        let mut s = String::with_capacity(arg.len() + self.0.len() + 1);
        for p in &parts {
            s.push('/');
            s.push_str(p);
        }
        if s.is_empty() {
            s.push('/');
        }
        if s.len() > MAX_PATH_BYTES {
            return Err(Error::Refused("path too long"));
        }
        Ok(VirtualPath(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_root(&self) -> bool {
        self.0 == "/"
    }

    pub fn components(&self) -> impl Iterator<Item = &str> {
        self.0.split('/').filter(|c| !c.is_empty())
    }

    /// The first component: which top-level directory this path lives in.
    pub fn top_dir(&self) -> Option<&str> {
        self.components().next()
    }

    /// True for `/<name>` itself.
    pub fn is_top_level(&self) -> bool {
        self.components().count() == 1
    }

    pub fn parent(&self) -> VirtualPath {
        match self.0.rfind('/') {
            Some(0) | None => VirtualPath::root(),
            Some(i) => VirtualPath(self.0[..i].to_owned()),
        }
    }

    pub fn file_name(&self) -> Option<&str> {
        self.components().last()
    }
}

impl fmt::Display for VirtualPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn join(cwd: &str, arg: &str) -> Result<String, Error> {
        VirtualPath::root()
            .join(cwd)
            .and_then(|c| c.join(arg))
            .map(|p| p.0)
    }

    #[test]
    fn relative_absolute_dots() {
        assert_eq!(join("/alice", "a/./b//c").unwrap(), "/alice/a/b/c");
        assert_eq!(join("/alice/x", "../y").unwrap(), "/alice/y");
        assert_eq!(join("/alice", "/Public/z").unwrap(), "/Public/z");
        assert_eq!(join("/alice", "..").unwrap(), "/");
        assert_eq!(join("/", "").unwrap(), "/");
    }

    #[test]
    fn escapes_refused() {
        assert!(matches!(
            join("/alice", "../../etc/passwd"),
            Err(Error::Refused(_))
        ));
        assert!(matches!(join("/", ".."), Err(Error::Refused(_))));
        assert!(matches!(join("/alice", "a\0b"), Err(Error::Refused(_))));
        assert!(matches!(
            join("/alice", &"x".repeat(256)),
            Err(Error::Refused(_))
        ));
        assert!(matches!(
            join("/alice", ".ferroftp-upload.1"),
            Err(Error::NotFound)
        ));
        assert!(matches!(
            join("/alice", "a\nlogin failed: user=x ip=10.0.0.1"),
            Err(Error::Refused(_))
        ));
        assert!(matches!(
            join("/alice", "tab\there"),
            Err(Error::Refused(_))
        ));
    }

    #[test]
    fn parent_and_names() {
        let p = VirtualPath::root().join("/a/b/c").unwrap();
        assert_eq!(p.parent().as_str(), "/a/b");
        assert_eq!(p.file_name(), Some("c"));
        assert_eq!(p.top_dir(), Some("a"));
        assert_eq!(VirtualPath::top("a").parent(), VirtualPath::root());
        assert!(VirtualPath::top("a").is_top_level());
    }
}
