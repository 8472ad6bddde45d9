//! Which top-level directories a session sees and what it may do in them.

use crate::storage::path::VirtualPath;

/// Read-only grants list and download; read-write also upload, create, delete, rename.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    ReadOnly,
    ReadWrite,
}

/// The session's view of `/`: the granted top-level directories, or everything for admins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grants {
    admin: bool,
    dirs: Vec<(String, Access)>,
}

/// Name of the shared directory every user sees.
pub const PUBLIC_DIR: &str = "Public";

impl Grants {
    /// An administrator: every top-level directory, read-write, and `/` itself is writable.
    pub fn admin() -> Grants {
        Grants {
            admin: true,
            dirs: Vec::new(),
        }
    }

    /// A user with explicit grants (name, access); later duplicates are ignored.
    pub fn user(dirs: Vec<(String, Access)>) -> Grants {
        let mut unique: Vec<(String, Access)> = Vec::with_capacity(dirs.len());
        for (name, access) in dirs {
            if !unique.iter().any(|(n, _)| *n == name) {
                unique.push((name, access));
            }
        }
        Grants {
            admin: false,
            dirs: unique,
        }
    }

    /// The default for a regular user: `Public` and their own home, both read-write.
    pub fn default_user(home: &str) -> Grants {
        Grants::user(vec![
            (PUBLIC_DIR.to_owned(), Access::ReadWrite),
            (home.to_owned(), Access::ReadWrite),
        ])
    }

    pub fn is_admin(&self) -> bool {
        self.admin
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

    /// The explicitly granted names (for listing `/` of a non-admin).
    pub fn granted_names(&self) -> impl Iterator<Item = &str> {
        self.dirs.iter().map(|(n, _)| n.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_user_sees_public_and_home_only() {
        let g = Grants::default_user("alice");
        assert_eq!(g.top_level("Public"), Some(Access::ReadWrite));
        assert_eq!(g.top_level("alice"), Some(Access::ReadWrite));
        assert_eq!(g.top_level("bob"), None);
        assert_eq!(g.access(&VirtualPath::root()), Some(Access::ReadOnly));
        assert_eq!(
            Grants::admin().access(&VirtualPath::top("bob")),
            Some(Access::ReadWrite)
        );
    }
}
