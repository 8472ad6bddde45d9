//! DELE, MKD, RMD, RNFR, RNTO, SIZE, MDTM, MFMT.

use crate::protocol::listing;
use crate::protocol::{Reply, codes};
use crate::server::session::{Session, SessionError};
use crate::storage::{self, PUBLIC_DIR, Resolved};

impl Session<'_> {
    /// Visibility of a new file or directory: the session default if set, else public inside
    /// `Public/` and private elsewhere.
    pub(super) fn new_entry_public(&self, target: &Resolved) -> bool {
        self.upload_public
            .unwrap_or(target.virt.top_dir() == Some(PUBLIC_DIR))
    }

    pub(super) fn dele(&mut self, path: &str) -> Result<Reply, SessionError> {
        let target = self.resolve(path)?;
        self.shared.storage.remove_file(&self.grants, &target)?;
        log::info!(
            "delete {} user={}",
            target.virt,
            self.user_name().unwrap_or("-")
        );
        Ok(Reply::new(
            codes::FILE_ACTION_OK,
            "Delete operation successful.",
        ))
    }

    pub(super) fn mkd(&mut self, path: &str) -> Result<Reply, SessionError> {
        let target = self.resolve(path)?;
        let public = self.new_entry_public(&target);
        self.shared
            .storage
            .make_dir(&self.grants, &target, public)?;
        Ok(Reply::quoted_path(target.virt.as_str(), "created."))
    }

    pub(super) fn rmd(&mut self, path: &str) -> Result<Reply, SessionError> {
        let target = self.resolve(path)?;
        self.shared.storage.remove_dir(&self.grants, &target)?;
        Ok(Reply::new(
            codes::FILE_ACTION_OK,
            "Remove directory operation successful.",
        ))
    }

    pub(super) fn rnfr(&mut self, path: &str) -> Result<Reply, SessionError> {
        let source = self.resolve(path)?;
        if !self.shared.storage.exists(&source) {
            return Err(storage::Error::NotFound.into());
        }
        // Only the name is kept: RNTO judges the file as it is then.
        self.rename_from = Some(source.virt);
        Ok(Reply::new(codes::PENDING, "Ready for RNTO."))
    }

    pub(super) fn rnto(&mut self, path: &str) -> Result<Reply, SessionError> {
        let Some(source) = self.rename_from.take() else {
            return Ok(Reply::new(codes::BAD_SEQUENCE, "RNFR required first."));
        };
        let target = self.cwd.join(path)?;
        let (source, target) = self.shared.storage.rename(&self.grants, &source, &target)?;
        log::info!(
            "rename {} -> {} user={}",
            source.virt,
            target.virt,
            self.user_name().unwrap_or("-")
        );
        Ok(Reply::new(codes::FILE_ACTION_OK, "Rename successful."))
    }

    pub(super) fn size(&mut self, path: &str) -> Result<Reply, SessionError> {
        let target = self.resolve(path)?;
        let meta = self.shared.storage.metadata(&target)?;
        if !meta.is_file() {
            return Err(storage::Error::NotAFile.into());
        }
        Ok(Reply::new(codes::FILE_STATUS, meta.len().to_string()))
    }

    pub(super) fn mdtm(&mut self, path: &str) -> Result<Reply, SessionError> {
        let target = self.resolve(path)?;
        let meta = self.shared.storage.metadata(&target)?;
        let modified = meta.modified();
        Ok(Reply::new(codes::FILE_STATUS, listing::timeval(modified)))
    }

    pub(super) fn mfmt(&mut self, modify: &str, path: &str) -> Result<Reply, SessionError> {
        let Some(when) = listing::parse_timeval(modify) else {
            return Ok(Reply::new(codes::PARAMETER_ERROR, "Bad time value."));
        };
        let target = self.resolve(path)?;
        self.shared
            .storage
            .set_modified(&self.grants, &target, when)?;
        Ok(Reply::new(
            codes::FILE_STATUS,
            format!("Modify={}; {}", listing::timeval(when), target.virt),
        ))
    }
}
