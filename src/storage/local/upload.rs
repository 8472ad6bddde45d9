//! Local uploads that never leave a half file under the final name: a fresh STOR writes an
//! unnamed (or hidden) temp file beside the target and links or renames it into place on
//! success, its ownership record journaled first; REST/APPE resumes write in place.

use std::ffi::CString;
use std::fs::{self, File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use super::metadata::MetaStore;
use crate::storage::backend::Sink;
use crate::storage::path::RESERVED_PREFIX;
use crate::storage::{Error, Meta, UploadMode};

/// Where a fresh STOR's data waits for its final name.
#[derive(Debug)]
enum Temp {
    /// A file with no name yet (O_TMPFILE): a crash leaves nothing behind, and publishing it
    /// is one link that never replaces what is there.
    Unnamed,
    /// A hidden name beside the target, renamed into place (an overwrite, or a file system
    /// without O_TMPFILE); swept on start if a crash leaves it.
    Named(PathBuf),
}

/// A local upload in progress. Dropping it unpublished removes the temp file.
#[derive(Debug)]
pub struct FileSink {
    file: File,
    /// A fresh STOR's file until it is published (then `None`).
    temp: Option<Temp>,
    target: PathBuf,
    fsync: bool,
    /// Where a new file's ownership record is journaled when it is published.
    records: Arc<MetaStore>,
    /// Opened with O_APPEND (APPE): writes land at the end, whatever the file position.
    append: bool,
    /// Bytes written since the disk was last asked to start writing them (fsync on).
    unsubmitted: u64,
    /// REST/APPE: written in place, not through a temp file.
    in_place: bool,
    /// In place: the file's length before this upload.
    start_len: u64,
    /// In place: where the file is cut back to when the quota stops the upload (the REST
    /// offset, or the length before an APPE): a refused upload leaves nothing of itself.
    rollback_to: u64,
}

/// With fsync on, an upload asks the disk to start writing every this many bytes, so the fsync
/// at the end waits for the last stretch, not the whole file.
const WRITEBACK_EVERY: u64 = 8 * 1024 * 1024;

/// Prefix of upload temp files; the storage sweeps stale ones on start.
pub const TEMP_PREFIX: &str = ".ferroftp-upload.";

impl FileSink {
    /// `existing`: the length of the file at `target` now, `None` when there is none (the
    /// caller has just looked; a directory there is its error to give).
    pub(super) fn begin(
        target: PathBuf,
        mode: UploadMode,
        fsync: bool,
        existing: Option<u64>,
        records: Arc<MetaStore>,
    ) -> Result<FileSink, Error> {
        let start_len = match mode {
            UploadMode::Replace => 0,
            _ => existing.unwrap_or(0),
        };
        let (file, temp) = match mode {
            UploadMode::Replace => {
                let dir = target.parent().ok_or(Error::NotFound)?;
                let (file, temp) = create_temp(dir, existing.is_none())?;
                (file, Some(temp))
            }
            UploadMode::Resume(offset) => (open_at(&target, offset)?, None),
            UploadMode::Append => (
                OpenOptions::new()
                    .append(true)
                    .create(true)
                    .mode(0o644)
                    .open(&target)?,
                None,
            ),
        };
        Ok(FileSink {
            file,
            temp,
            target,
            fsync,
            records,
            append: mode == UploadMode::Append,
            unsubmitted: 0,
            in_place: mode != UploadMode::Replace,
            start_len,
            rollback_to: match mode {
                UploadMode::Resume(offset) => offset,
                _ => start_len,
            },
        })
    }

    fn start_writeback(&mut self, n: usize) {
        self.unsubmitted += n as u64;
        if self.unsubmitted >= WRITEBACK_EVERY {
            self.unsubmitted = 0;
            // SAFETY: the fd is open (owned by `self.file`); offset 0 and length 0 mean the
            // whole file. Only a hint: an error changes nothing, the final fsync decides.
            unsafe {
                libc::sync_file_range(self.file.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE);
            }
        }
    }

    /// Gives the upload its final name (see `Sink::publish`): renameat2 with RENAME_NOREPLACE,
    /// a link of the unnamed file, or a hard link where the file system lacks both.
    fn take_name(&mut self, no_replace: bool) -> Result<(), Error> {
        match &self.temp {
            None => return Ok(()),
            Some(Temp::Unnamed) if no_replace => link_unnamed(&self.file, &self.target)?,
            Some(Temp::Unnamed) => {
                // Only new names get an unnamed file (see `begin`); an overwrite needs a
                // name to rename over the old file.
                return Err(Error::Io(std::io::Error::other(
                    "an unnamed upload cannot replace a file",
                )));
            }
            Some(Temp::Named(temp)) if !no_replace => fs::rename(temp, &self.target)?,
            Some(Temp::Named(temp)) => {
                if !rename_no_replace(temp, &self.target)? {
                    // No renameat2 here: a link never replaces either; `settle` drops the
                    // temp name.
                    fs::hard_link(temp, &self.target)?;
                    return Ok(());
                }
            }
        }
        self.temp = None;
        Ok(())
    }
}

/// REST n + STOR: the file cut at `offset` (created when it is 0), positioned there.
fn open_at(target: &Path, offset: u64) -> Result<File, Error> {
    let mut file = OpenOptions::new()
        .write(true)
        .create(offset == 0)
        .mode(0o644)
        .open(target)?;
    let len = file.metadata()?.len();
    if offset > len {
        return Err(Error::BadOffset);
    }
    file.set_len(offset)?;
    file.seek(SeekFrom::Start(offset))?;
    Ok(file)
}

impl Sink for FileSink {
    fn write_all(&mut self, data: &[u8]) -> std::io::Result<()> {
        self.file.write_all(data)
    }

    fn file(&self) -> Option<&File> {
        Some(&self.file)
    }

    fn is_append(&self) -> bool {
        self.append
    }

    /// With fsync on, each `WRITEBACK_EVERY` starts the write-out of the dirty pages
    /// (sync_file_range, asynchronous): the disk works while the network does, instead of
    /// all at the final fsync.
    fn wrote(&mut self, n: usize) {
        if self.fsync {
            self.start_writeback(n);
        }
    }

    fn size(&mut self) -> std::io::Result<u64> {
        Ok(self.file.metadata()?.len())
    }

    fn is_replace(&self) -> bool {
        !self.in_place
    }

    fn sync_contents(&mut self) -> Result<(), Error> {
        if self.fsync {
            self.file.sync_all()?;
        }
        Ok(())
    }

    /// The record is journaled (and fsynced) before the name is taken, so a crash or power
    /// cut can never show a private upload without its owner.
    fn publish(&mut self, record: Option<(&str, &Meta)>, no_replace: bool) -> Result<(), Error> {
        if let Some((path, meta)) = record {
            self.records.set(path, meta.clone())?;
        }
        self.take_name(no_replace)
    }

    /// The linked temp name goes, and the directory entry reaches the disk (fsync on) before
    /// the client hears 226.
    fn settle(&mut self) -> Result<(), Error> {
        if let Some(Temp::Named(temp)) = self.temp.take()
            && let Err(e) = fs::remove_file(&temp)
        {
            log::warn!("could not remove upload temp file {}: {e}", temp.display());
        }
        if self.fsync
            && let Some(dir) = self.target.parent()
        {
            File::open(dir)?.sync_all()?;
        }
        Ok(())
    }

    fn roll_back(&mut self) {
        if self.in_place
            && let Err(e) = self.file.set_len(self.rollback_to)
        {
            log::warn!("could not cut {} back: {e}", self.target.display());
        }
    }

    fn start_len(&self) -> u64 {
        self.start_len
    }
}

impl Drop for FileSink {
    /// An upload that was not published leaves nothing; one published by a link leaves no
    /// second name. One in place keeps what arrived (a later REST resumes it).
    fn drop(&mut self) {
        // An unnamed file goes with its descriptor.
        if let Some(Temp::Named(temp)) = &self.temp
            && let Err(e) = fs::remove_file(temp)
        {
            log::warn!("could not remove upload temp file {}: {e}", temp.display());
        }
    }
}

/// renameat2(RENAME_NOREPLACE): `from` takes the name `to` only if no entry has it (then
/// `AlreadyExists`), in one step. False when the file system or kernel cannot do it.
fn rename_no_replace(from: &Path, to: &Path) -> Result<bool, Error> {
    let cstr = |p: &Path| {
        CString::new(p.as_os_str().as_bytes()).map_err(|_| Error::Refused("NUL in a path"))
    };
    let (from, to) = (cstr(from)?, cstr(to)?);
    // SAFETY: both are valid NUL-terminated paths for the call; AT_FDCWD with absolute or
    // cwd-relative paths is what rename(2) does.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            from.as_ptr(),
            libc::AT_FDCWD,
            to.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if rc == 0 {
        return Ok(true);
    }
    let err = std::io::Error::last_os_error();
    match err.raw_os_error() {
        Some(libc::EINVAL | libc::ENOSYS | libc::ENOTSUP) => Ok(false),
        _ => Err(err.into()),
    }
}

/// The file a fresh STOR writes: unnamed when the target is a new name and the system can
/// link such a file later, else a hidden name beside the target.
fn create_temp(dir: &Path, new_name: bool) -> Result<(File, Temp), Error> {
    if new_name && unnamed_files_linkable() {
        match OpenOptions::new()
            .write(true)
            .mode(0o644)
            .custom_flags(libc::O_TMPFILE)
            .open(dir)
        {
            Ok(f) => return Ok((f, Temp::Unnamed)),
            // Not on this file system (EOPNOTSUPP) or kernel (EISDIR, EINVAL): use a name.
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::EOPNOTSUPP | libc::EISDIR | libc::EINVAL)
                ) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let (file, path) = create_named_temp(dir)?;
    Ok((file, Temp::Named(path)))
}

/// An unnamed file is given its name through `/proc/self/fd` (linkat with AT_EMPTY_PATH
/// needs a capability the server does not have): without /proc, uploads use named temps.
fn unnamed_files_linkable() -> bool {
    static LINKABLE: OnceLock<bool> = OnceLock::new();
    *LINKABLE.get_or_init(|| Path::new("/proc/self/fd").is_dir())
}

/// linkat(2) of an O_TMPFILE file to `target`: `AlreadyExists` when something has the name
/// (a link never replaces).
fn link_unnamed(file: &File, target: &Path) -> Result<(), Error> {
    let from = CString::new(format!("/proc/self/fd/{}", file.as_raw_fd()))
        .map_err(|_| Error::Refused("NUL in a path"))?;
    let to =
        CString::new(target.as_os_str().as_bytes()).map_err(|_| Error::Refused("NUL in a path"))?;
    // SAFETY: both are valid NUL-terminated paths for the call; AT_SYMLINK_FOLLOW makes the
    // /proc link name the open file itself.
    let rc = unsafe {
        libc::linkat(
            libc::AT_FDCWD,
            from.as_ptr(),
            libc::AT_FDCWD,
            to.as_ptr(),
            libc::AT_SYMLINK_FOLLOW,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error().into())
    }
}

fn create_named_temp(dir: &Path) -> Result<(File, PathBuf), Error> {
    debug_assert!(TEMP_PREFIX.starts_with(RESERVED_PREFIX));
    for _ in 0..8 {
        let mut bytes = [0u8; 8];
        getrandom::fill(&mut bytes).map_err(|e| Error::Io(std::io::Error::other(e.to_string())))?;
        let name: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let path = dir.join(format!("{TEMP_PREFIX}{name}"));
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&path)
        {
            Ok(f) => return Ok((f, path)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::Io(std::io::Error::other(
        "could not pick a temp file name",
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn begin(
        target: &Path,
        mode: UploadMode,
        fsync: bool,
        existing: Option<u64>,
    ) -> Result<FileSink, Error> {
        let dir = target.parent().unwrap();
        // The journal lives on after its directory goes (the store holds it open).
        let journal_dir = tempfile::tempdir().unwrap();
        let journal = journal_dir.path().join("metadata.jsonl");
        let records = MetaStore::open(&journal, dir, false, &|_: &str| true).unwrap();
        FileSink::begin(
            target.to_path_buf(),
            mode,
            fsync,
            existing,
            Arc::new(records),
        )
    }

    impl FileSink {
        /// All three steps at once.
        fn commit(mut self, no_replace: bool) -> Result<(), Error> {
            self.sync_contents()?;
            self.publish(None, no_replace)?;
            self.settle()
        }
    }

    #[test]
    fn dropped_upload_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("f");
        let mut up = begin(&target, UploadMode::Replace, false, None).unwrap();
        up.write_all(b"partial").unwrap();
        drop(up);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_new_name_is_written_unnamed_and_never_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("f");
        let mut up = begin(&target, UploadMode::Replace, true, None).unwrap();
        up.write_all(b"mine").unwrap();
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            0,
            "no name while writing"
        );
        fs::write(&target, b"theirs").unwrap();
        let mut late = begin(&target, UploadMode::Replace, true, None).unwrap();
        late.write_all(b"late").unwrap();
        assert!(matches!(late.commit(true), Err(Error::AlreadyExists)));
        assert_eq!(fs::read(&target).unwrap(), b"theirs");
        fs::remove_file(&target).unwrap();
        up.commit(true).unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"mine");
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "the file alone"
        );
    }

    #[test]
    fn commit_replaces_and_resume_truncates_at_offset() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("f");
        fs::write(&target, b"old content").unwrap();
        let mut up = begin(&target, UploadMode::Replace, true, Some(11)).unwrap();
        up.write_all(b"new").unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"old content");
        up.commit(false).unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"new");
        let mut up = begin(&target, UploadMode::Resume(2), true, Some(3)).unwrap();
        up.write_all(b"XY").unwrap();
        up.commit(false).unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"neXY");
        assert!(matches!(
            begin(&target, UploadMode::Resume(99), true, Some(4)),
            Err(Error::BadOffset)
        ));
        let mut up = begin(&target, UploadMode::Append, false, Some(4)).unwrap();
        up.write_all(b"!").unwrap();
        up.commit(false).unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"neXY!");
    }
}
