//! The jail: client paths → `Resolved` paths inside `server_storage/`, with symlinks placed
//! on disk judged by where they lead, and the session's grants and the ownership records
//! applied (another user's private entries are absent, as a missing file is).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::{Access, Error, Grants, Meta, Storage, VirtualPath};

/// A path the jail accepted: its place in the namespace, its real path, the session's access
/// to its top-level directory, and its ownership record (if any).
#[derive(Debug, Clone)]
pub struct Resolved {
    pub virt: VirtualPath,
    pub(super) real: PathBuf,
    pub access: Access,
    /// The ownership record that judges this path (a symlink's: its target's).
    pub meta: Option<Meta>,
    /// A symlink placed on disk, to a file: it has no owner of its own, so only admins may
    /// change the link itself.
    pub(super) is_link: bool,
}

/// Where a namespace path is on disk (see `Storage::locate`).
struct Located {
    /// The path with symlinks above it resolved: the key of its ownership record.
    virt: VirtualPath,
    real: PathBuf,
    /// For a final symlink to a file: where it leads.
    link_target: Option<VirtualPath>,
}

impl Resolved {
    pub(super) fn need_write(&self) -> Result<(), Error> {
        match self.access {
            Access::ReadWrite => Ok(()),
            Access::ReadOnly => Err(Error::PermissionDenied),
        }
    }

    /// Write grant plus ownership: the owner or an admin (a symlink itself: admins only).
    pub(super) fn need_modify(&self, grants: &Grants) -> Result<(), Error> {
        self.need_write()?;
        let record = if self.is_link {
            None
        } else {
            self.meta.as_ref()
        };
        if grants.can_modify(record) {
            Ok(())
        } else {
            Err(Error::PermissionDenied)
        }
    }

    pub(super) fn is_root_or_top(&self) -> bool {
        self.virt.is_root() || self.virt.is_top_level()
    }
}

impl Storage {
    /// Resolves a client path against `cwd` for a session with `grants`. Ungranted top-level
    /// directories are reported as absent.
    pub fn resolve(
        &self,
        grants: &Grants,
        cwd: &VirtualPath,
        arg: &str,
    ) -> Result<Resolved, Error> {
        let virt = cwd.join(arg)?;
        self.resolve_virtual(grants, virt)
    }

    /// Resolves a namespace path. Symlinks placed on disk are judged by where they lead: the
    /// session needs the grant of the typed path *and* of the target, and the target's
    /// ownership and visibility apply (a link into another user's home is as absent as it).
    pub fn resolve_virtual(&self, grants: &Grants, virt: VirtualPath) -> Result<Resolved, Error> {
        let typed_access = grants.access(&virt).ok_or(Error::NotFound)?;
        let located = self.locate(&virt)?;
        let judged = located.link_target.as_ref().unwrap_or(&located.virt);
        let access = if *judged == virt {
            typed_access
        } else {
            // SECURITY: a link never grants more than either end of it.
            let target_access = grants.access(judged).ok_or(Error::NotFound)?;
            if typed_access == Access::ReadWrite && target_access == Access::ReadWrite {
                Access::ReadWrite
            } else {
                Access::ReadOnly
            }
        };
        if located.virt != virt {
            self.visible_meta(grants, &virt)?;
        }
        if located.link_target.is_some() {
            self.visible_meta(grants, &located.virt)?;
        }
        let meta = self.visible_meta(grants, judged)?;
        Ok(Resolved {
            virt: located.virt,
            real: located.real,
            access,
            meta,
            is_link: located.link_target.is_some(),
        })
    }

    /// The record of `virt`, after checking that neither it nor a directory above it is
    /// private to someone else (such entries are absent: `NotFound`, as for a missing file).
    /// Top-level directories are governed by the grants alone.
    fn visible_meta(&self, grants: &Grants, virt: &VirtualPath) -> Result<Option<Meta>, Error> {
        let path = virt.as_str();
        let mut meta = None;
        let mut end = 0;
        for (i, c) in virt.components().enumerate() {
            end += 1 + c.len();
            meta = self.meta.get(&path[..end]);
            if i > 0 && !grants.can_see(meta.as_ref()) {
                return Err(Error::NotFound);
            }
        }
        Ok(meta)
    }

    /// Where `virt` is on disk, with every symlink above it resolved.
    ///
    /// SECURITY: symlinks placed on disk must not lead out of the jail: the deepest existing
    /// ancestor of the path must canonicalise inside the root, a dangling symlink is refused
    /// (creating through it would write wherever it points), and so is a final symlink that
    /// leads out. A final symlink to a directory is followed; one to a file stays the entry
    /// (DELE removes the link) and names its target for judging access.
    fn locate(&self, virt: &VirtualPath) -> Result<Located, Error> {
        let Some(name) = virt.file_name() else {
            return Ok(Located {
                virt: VirtualPath::root(),
                real: self.root.clone(),
                link_target: None,
            });
        };
        let mut real = self.root.clone();
        for c in virt.parent().components() {
            real.push(c);
        }
        let mut real = self.canonical_inside(&real)?;
        real.push(name);
        let mut link_target = None;
        match fs::symlink_metadata(&real) {
            Ok(m) if m.file_type().is_symlink() => {
                let target = self.canonical_inside(&real)?;
                if fs::metadata(&target).is_ok_and(|t| t.is_dir()) {
                    real = target;
                } else {
                    link_target = Some(self.virtual_of(&target)?);
                }
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
        Ok(Located {
            virt: self.virtual_of(&real)?,
            real,
            link_target,
        })
    }

    /// `path` with its deepest existing ancestor canonicalised; refused unless inside the root.
    fn canonical_inside(&self, path: &Path) -> Result<PathBuf, Error> {
        if self.plain_below_root(path)? {
            return Ok(path.to_path_buf());
        }
        let mut probe = path;
        let mut missing = Vec::new();
        loop {
            match fs::symlink_metadata(probe) {
                Ok(_) => break,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    let (Some(name), Some(parent)) = (probe.file_name(), probe.parent()) else {
                        return Err(Error::Refused("no existing ancestor"));
                    };
                    missing.push(name);
                    probe = parent;
                }
                Err(e) => return Err(e.into()),
            }
        }
        let mut canon = probe
            .canonicalize()
            .map_err(|_| Error::Refused("dangling symlink"))?;
        if !canon.starts_with(&self.root) {
            return Err(Error::Refused("symlink out of the storage root"));
        }
        canon.extend(missing.iter().rev());
        Ok(canon)
    }

    /// True when `path` is the root plus plain names, none of them a symlink on disk (the
    /// common case): then it is canonical as it stands, since the root is. One `lstat` per
    /// name below the root, where `canonicalize` would ask about every ancestor of the root
    /// too. Stops at the first missing name (the rest cannot be links either).
    fn plain_below_root(&self, path: &Path) -> Result<bool, Error> {
        let Ok(rel) = path.strip_prefix(&self.root) else {
            return Ok(false);
        };
        let mut probe = self.root.clone();
        for c in rel.components() {
            let std::path::Component::Normal(name) = c else {
                return Ok(false);
            };
            probe.push(name);
            match fs::symlink_metadata(&probe) {
                Ok(m) if m.file_type().is_symlink() => return Ok(false),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(true),
                Err(e) => return Err(e.into()),
            }
        }
        Ok(true)
    }

    /// The namespace path of a real path inside the root.
    fn virtual_of(&self, real: &Path) -> Result<VirtualPath, Error> {
        let rel = real
            .strip_prefix(&self.root)
            .map_err(|_| Error::Refused("symlink out of the storage root"))?;
        let rel = rel.to_str().ok_or(Error::Refused("name is not UTF-8"))?;
        VirtualPath::root().join(rel)
    }
}
