//! The jail: client paths → `Resolved` paths inside the namespace, with symlinks placed on
//! disk judged by where they lead (the back-end resolves them), and the session's grants and
//! the ownership records applied (another user's private entries are absent, as a missing
//! file is).

use std::path::PathBuf;

use super::{Access, Error, Grants, Meta, Storage, VirtualPath};

/// A path the jail accepted: its place in the namespace, where the back-end keeps it, the
/// session's access to its top-level directory, and its ownership record (if any).
#[derive(Debug, Clone)]
pub struct Resolved {
    pub virt: VirtualPath,
    /// The back-end's name for it: a real path, or an object key.
    pub(super) real: PathBuf,
    pub access: Access,
    /// The ownership record that judges this path (a symlink's: its target's).
    pub meta: Option<Meta>,
    /// A symlink placed on disk, to a file: it has no owner of its own, so only admins may
    /// change the link itself.
    pub(super) is_link: bool,
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
        let located = self.backend.locate(&virt)?;
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
            real: located.place,
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
        let last = virt.components().count().saturating_sub(1);
        let mut meta = None;
        let mut end = 0;
        for (i, c) in virt.components().enumerate() {
            end += 1 + c.len();
            // What lies above the last name can only be a directory.
            meta = if i < last {
                self.backend.dir_record(&path[..end])?
            } else {
                self.backend.record(&path[..end])?
            };
            if i > 0 && !grants.can_see(meta.as_ref()) {
                return Err(Error::NotFound);
            }
        }
        Ok(meta)
    }
}
