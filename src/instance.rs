//! The instance directory (`--dir`): where a running server keeps its state.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// Paths under the instance directory.
#[derive(Debug, Clone)]
pub struct Instance {
    pub root: PathBuf,
}

impl Instance {
    pub fn new(root: impl Into<PathBuf>) -> Instance {
        Instance { root: root.into() }
    }

    pub fn data_dir(&self) -> PathBuf {
        self.root.join("data")
    }

    pub fn storage_dir(&self) -> PathBuf {
        self.root.join("server_storage")
    }

    pub fn certs_dir(&self) -> PathBuf {
        self.root.join("certs")
    }

    pub fn config_file(&self) -> PathBuf {
        self.root.join("ferroftp.toml")
    }

    pub fn metadata_journal(&self) -> PathBuf {
        self.data_dir().join("metadata.jsonl")
    }

    pub fn xferlog(&self) -> PathBuf {
        self.data_dir().join("xferlog")
    }

    /// Creates `data/`, `server_storage/Public/` and `certs/` when missing.
    pub fn prepare(&self) -> io::Result<()> {
        create_dir(&self.data_dir())?;
        create_dir(&self.storage_dir().join("Public"))?;
        create_dir(&self.certs_dir())
    }
}

fn create_dir(path: &Path) -> io::Result<()> {
    fs::create_dir_all(path)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot create {}: {e}", path.display())))
}
