//! The instance directory (`--dir`): where a running server keeps its state, and the lock
//! that lets only one server own it at a time.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};

/// The file a running `serve` holds locked (and writes its PID into).
pub const LOCK_FILE: &str = "serve.lock";

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

    /// Where a first start whose stdout is not a terminal leaves the admin password (0600).
    pub fn admin_password_file(&self) -> PathBuf {
        self.data_dir().join("admin-password")
    }

    pub fn xferlog(&self) -> PathBuf {
        self.data_dir().join("xferlog")
    }

    /// Takes the instance for this process: only one `serve` may own `data/` at a time (a
    /// second one would rewrite the metadata journal under the first). The lock is an
    /// advisory `flock` on `data/serve.lock`, released by the kernel when the process ends,
    /// even by `kill -9`; the file names the holder's PID for the error message.
    pub fn lock(&self) -> io::Result<InstanceLock> {
        create_dir(&self.data_dir())?;
        let path = self.data_dir().join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                let who = if holder.is_empty() {
                    "another ferroftp serve".to_owned()
                } else {
                    format!("another ferroftp serve (PID {holder})")
                };
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!("instance {} is in use by {who}", self.root.display()),
                ));
            }
            Err(TryLockError::Error(e)) => {
                return Err(io::Error::new(
                    e.kind(),
                    format!("cannot lock {}: {e}", path.display()),
                ));
            }
        }
        // The PID is only for the message above: a full disk must not stop the start.
        let written = file
            .set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| writeln!(file, "{}", std::process::id()));
        if let Err(e) = written {
            log::warn!("cannot write the PID to {}: {e}", path.display());
        }
        Ok(InstanceLock { _file: file })
    }

    /// The PID of a `serve` that seems to run on this instance (the PID its lock file names,
    /// if that process exists), without touching the lock: probing it could make a server
    /// starting at that moment fail.
    pub fn serving_pid(&self) -> Option<u32> {
        let text = std::fs::read_to_string(self.data_dir().join(LOCK_FILE)).ok()?;
        let pid: libc::pid_t = text.trim().parse().ok()?;
        if pid <= 0 {
            return None;
        }
        // SAFETY: kill(2) with signal 0 only checks that the process exists.
        let alive = unsafe { libc::kill(pid, 0) } == 0
            || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
        alive.then(|| pid.unsigned_abs())
    }

    /// Creates `data/`, `server_storage/Public/` and `certs/` when missing.
    pub fn prepare(&self) -> io::Result<()> {
        create_dir(&self.data_dir())?;
        create_dir(&self.storage_dir().join("Public"))?;
        create_dir(&self.certs_dir())
    }
}

/// Held while a server owns the instance; dropping it (or the process ending) releases it.
#[derive(Debug)]
pub struct InstanceLock {
    _file: File,
}

fn create_dir(path: &Path) -> io::Result<()> {
    fs::create_dir_all(path)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot create {}: {e}", path.display())))
}
