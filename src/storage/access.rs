//! Who may do what: the session's grants (which top-level directories it sees, `ro`/`rw`) and
//! the ownership rules (private entries exist only for their owner and admins; only the owner
//! or an admin may change an entry; entries with no record are changed only by admins).

use crate::storage::path::VirtualPath;
use crate::storage::record::Meta;

/// Read-only grants list and download; read-write also upload, create, delete, rename.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    ReadOnly,
    ReadWrite,
}

/// Name of the shared directory every user sees by default.
pub const PUBLIC_DIR: &str = "Public";

/// The session's identity and view of `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grants {
    user: String,
    admin: bool,
    dirs: Vec<(String, Access)>,
}

impl Grants {
    /// Nobody: sees nothing (before login).
    pub fn nobody() -> Grants {
        Grants {
            user: String::new(),
            admin: false,
            dirs: Vec::new(),
        }
    }

    /// An administrator: every top-level directory, read-write, and `/` itself is writable.
    pub fn admin(user: &str) -> Grants {
        Grants {
            user: user.to_owned(),
            admin: true,
            dirs: Vec::new(),
        }
    }

    /// A user with explicit grants (name, access); later duplicates are ignored.
    pub fn user(user: &str, dirs: Vec<(String, Access)>) -> Grants {
        let mut unique: Vec<(String, Access)> = Vec::with_capacity(dirs.len());
        for (name, access) in dirs {
            if !unique.iter().any(|(n, _)| *n == name) {
                unique.push((name, access));
            }
        }
        Grants {
            user: user.to_owned(),
            admin: false,
            dirs: unique,
        }
    }

    pub fn is_admin(&self) -> bool {
        self.admin
    }

    pub fn user_name(&self) -> &str {
        &self.user
    }

    /// Access to a top-level directory name, `None` when it is not granted (it is then absent).
    pub fn top_level(&self, name: &str) -> Option<Access> {
        if self.admin {
            return Some(Access::ReadWrite);
        }
        self.dirs.iter().find(|(n, _)| n == name).map(|(_, a)| *a)
    }

    /// Access to any path: the grant of its top-level directory. The root is read-only
    /// except for admins (who may create top-level directories).
    pub fn access(&self, path: &VirtualPath) -> Option<Access> {
        match path.top_dir() {
            None if self.admin => Some(Access::ReadWrite),
            None => Some(Access::ReadOnly),
            Some(top) => self.top_level(top),
        }
    }

    /// Private entries exist only for their owner and admins.
    pub fn can_see(&self, meta: Option<&Meta>) -> bool {
        self.admin || meta.is_none_or(|m| m.public || m.owner == self.user)
    }

    /// Overwrite, append, delete, rename, change visibility: the owner or an admin. Entries
    /// found on disk with no record belong to no user and are changed only by admins.
    pub fn can_modify(&self, meta: Option<&Meta>) -> bool {
        self.admin || meta.is_some_and(|m| m.owner == self.user)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_and_ownership() {
        let g = Grants::user(
            "alice",
            vec![
                ("Public".into(), Access::ReadWrite),
                ("alice".into(), Access::ReadWrite),
            ],
        );
        assert_eq!(g.top_level("bob"), None);
        assert_eq!(g.access(&VirtualPath::root()), Some(Access::ReadOnly));
        assert!(g.can_see(Some(&Meta::new("bob", true))));
        assert!(!g.can_see(Some(&Meta::new("bob", false))));
        assert!(g.can_see(Some(&Meta::new("alice", false))));
        assert!(g.can_see(None));
        assert!(g.can_modify(Some(&Meta::new("alice", true))));
        assert!(!g.can_modify(Some(&Meta::new("bob", true))));
        assert!(!g.can_modify(None));
        let admin = Grants::admin("root");
        assert!(admin.can_see(Some(&Meta::new("bob", false))) && admin.can_modify(None));
        assert_eq!(
            admin.access(&VirtualPath::top("bob")),
            Some(Access::ReadWrite)
        );
    }
}
