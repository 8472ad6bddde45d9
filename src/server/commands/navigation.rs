//! PWD, CWD, CDUP (and their X-variants, folded by the parser).

use crate::protocol::{Reply, codes};
use crate::server::session::{Session, SessionError};
use crate::storage;

impl Session<'_> {
    pub(super) fn pwd(&self) -> Reply {
        Reply::quoted_path(self.cwd.as_str(), "is the current directory.")
    }

    pub(super) fn cwd(&mut self, path: &str) -> Result<Reply, SessionError> {
        let target = self.resolve(path)?;
        if !self.shared.storage.metadata(&target)?.is_dir() {
            return Err(storage::Error::NotADirectory.into());
        }
        self.cwd = target.virt;
        Ok(Reply::new(
            codes::FILE_ACTION_OK,
            "Directory successfully changed.",
        ))
    }

    pub(super) fn cdup(&mut self) -> Result<Reply, SessionError> {
        if self.cwd.is_root() {
            return Ok(Reply::new(
                codes::FILE_ACTION_OK,
                "Directory successfully changed.",
            ));
        }
        self.cwd = self.cwd.parent();
        Ok(Reply::new(
            codes::FILE_ACTION_OK,
            "Directory successfully changed.",
        ))
    }
}
