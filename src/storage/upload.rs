//! Uploads that never leave a half file under the final name: a fresh STOR writes a hidden temp
//! file beside the target and renames it into place on success; REST/APPE resumes write in place.

use std::ffi::CString;
use std::fs::{self, File, OpenOptions};
use std::io::{Seek, SeekFrom};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use crate::storage::Error;
use crate::storage::locks::WriterClaim;
use crate::storage::metadata::Meta;
use crate::storage::path::RESERVED_PREFIX;
use crate::storage::quota::{Hold, Usage};

/// How the upload meets an existing file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadMode {
    /// STOR: the new file replaces any old one only once it is complete.
    Replace,
    /// REST n + STOR: keep the first n bytes, write from there (in place).
    Resume(u64),
    /// APPE: write at the end (in place).
    Append,
}

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

/// An upload in progress. Dropping it unpublished removes the temp file.
#[derive(Debug)]
pub struct Upload {
    file: File,
    /// The ownership record a new file gets when the upload is committed.
    record: Option<(String, Meta)>,
    /// The namespace path (for the ownership re-check at commit).
    virt: String,
    /// A fresh STOR's file until it is published (then `None`).
    temp: Option<Temp>,
    target: PathBuf,
    fsync: bool,
    /// Opened with O_APPEND (APPE): writes land at the end, whatever the file position.
    append: bool,
    /// Bytes written since the disk was last asked to start writing them (fsync on).
    unsubmitted: u64,
    /// The claim on the uploader's quota, when one applies.
    hold: Option<Hold>,
    /// In place: this upload's claim on its path (one in-place writer per path).
    writer: Option<WriterClaim>,
    /// The usage of the file's owner, when counted: kept current at the end.
    usage: Option<Arc<Usage>>,
    /// REST/APPE: written in place, not through a temp file.
    in_place: bool,
    /// In place: the file's length before this upload.
    start_len: u64,
    /// In place: where the file is cut back to when the quota stops the upload (the REST
    /// offset, or the length before an APPE): a refused upload leaves nothing of itself.
    rollback_to: u64,
    over_quota: bool,
}

/// With fsync on, an upload asks the disk to start writing every this many bytes, so the fsync
/// at the end waits for the last stretch, not the whole file.
const WRITEBACK_EVERY: u64 = 8 * 1024 * 1024;

/// Prefix of upload temp files; the storage sweeps stale ones on start.
pub const TEMP_PREFIX: &str = ".ferroftp-upload.";

impl Upload {
    /// `existing`: the length of the file at `target` now, `None` when there is none (the
    /// caller has just looked; a directory there is its error to give).
    pub(super) fn begin(
        target: PathBuf,
        mode: UploadMode,
        fsync: bool,
        record: Option<(String, Meta)>,
        existing: Option<u64>,
    ) -> Result<Upload, Error> {
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
            UploadMode::Resume(offset) => {
                let mut file = OpenOptions::new()
                    .write(true)
                    .create(offset == 0)
                    .mode(0o644)
                    .open(&target)?;
                let len = file.metadata()?.len();
                if offset > len {
                    return Err(Error::BadOffset);
                }
                file.set_len(offset)?;
                file.seek(SeekFrom::Start(offset))?;
                (file, None)
            }
            UploadMode::Append => (
                OpenOptions::new()
                    .append(true)
                    .create(true)
                    .mode(0o644)
                    .open(&target)?,
                None,
            ),
        };
        Ok(Upload {
            file,
            record,
            virt: String::new(),
            temp,
            target,
            fsync,
            append: mode == UploadMode::Append,
            unsubmitted: 0,
            hold: None,
            writer: None,
            usage: None,
            in_place: mode != UploadMode::Replace,
            start_len,
            rollback_to: match mode {
                UploadMode::Resume(offset) => offset,
                _ => start_len,
            },
            over_quota: false,
        })
    }

    /// Puts the upload under a quota (`hold`) and keeps its owner's `usage` current; an
    /// in-place upload keeps its `writer` claim on the path until it ends.
    pub(super) fn counted(
        mut self,
        hold: Option<Hold>,
        usage: Option<Arc<Usage>>,
        writer: Option<WriterClaim>,
    ) -> Upload {
        self.hold = hold;
        self.usage = usage;
        self.writer = writer;
        self
    }

    pub(super) fn hold(&self) -> Option<&Hold> {
        self.hold.as_ref()
    }

    /// The owner's usage to update at the end, if it is counted.
    pub(super) fn usage(&self) -> Option<&Arc<Usage>> {
        self.usage.as_ref()
    }

    pub(super) fn set_usage(&mut self, usage: Option<Arc<Usage>>) {
        self.usage = usage;
    }

    pub(super) fn take_usage(&mut self) -> Option<Arc<Usage>> {
        self.usage.take()
    }

    pub(super) fn for_path(mut self, virt: &str) -> Upload {
        self.virt = virt.to_owned();
        self
    }

    pub(super) fn target(&self) -> &Path {
        &self.target
    }

    /// A fresh STOR (temp file renamed into place), as opposed to a resume or append in place.
    pub(super) fn is_replace(&self) -> bool {
        self.temp.is_some()
    }

    pub(super) fn virt(&self) -> &str {
        &self.virt
    }

    pub(super) fn record(&self) -> Option<(&str, &Meta)> {
        self.record.as_ref().map(|(p, m)| (p.as_str(), m))
    }

    /// True when the file is in append mode (splice(2) cannot write to such a file).
    pub fn is_append(&self) -> bool {
        self.append
    }

    pub fn file(&mut self) -> &mut File {
        &mut self.file
    }

    /// Tells the upload `n` more bytes reached its file: `QuotaBytes` when they pass the
    /// quota (the upload must stop; dropped, it leaves nothing of itself, and its claim on the
    /// quota is given back at once). With fsync on, each `WRITEBACK_EVERY` starts the
    /// write-out of the dirty pages (sync_file_range, asynchronous): the disk works while the
    /// network does, instead of all at the final fsync.
    pub fn wrote(&mut self, n: usize) -> Result<(), Error> {
        if let Some(hold) = &mut self.hold
            && let Err(e) = hold.grow(n as u64)
        {
            self.over_quota = true;
            self.hold = None;
            return Err(e);
        }
        if self.fsync {
            self.start_writeback(n);
        }
        Ok(())
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

    /// First step of publishing, before any lock: the contents reach the disk (fsync on).
    pub(super) fn sync_contents(&mut self) -> Result<(), Error> {
        if self.fsync {
            self.file.sync_all()?;
        }
        Ok(())
    }

    /// Makes the upload visible under its final name: the step that must be atomic with the
    /// ownership re-check. With `no_replace`, a file that appeared under the final name
    /// meanwhile is never replaced: the upload fails with `AlreadyExists` (renameat2 with
    /// RENAME_NOREPLACE, or a hard link where the file system lacks it).
    pub(super) fn publish(&mut self, no_replace: bool) -> Result<(), Error> {
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

    /// After publishing, outside the lock: the linked temp name goes, and the directory entry
    /// reaches the disk (fsync on) before the client hears 226.
    pub(super) fn settle(mut self) -> Result<(), Error> {
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

    /// All three steps at once (tests and single-writer callers).
    #[cfg(test)]
    fn commit(mut self, no_replace: bool) -> Result<(), Error> {
        self.sync_contents()?;
        self.publish(no_replace)?;
        self.settle()
    }
}

impl Drop for Upload {
    /// An upload that was not published leaves nothing; one published by a link leaves no
    /// second name. One in place keeps what arrived (a later REST resumes it) unless the
    /// quota stopped it; its owner's usage follows the file either way.
    fn drop(&mut self) {
        if let Some(temp) = &self.temp {
            // An unnamed file goes with its descriptor.
            if let Temp::Named(temp) = temp
                && let Err(e) = fs::remove_file(temp)
            {
                log::warn!("could not remove upload temp file {}: {e}", temp.display());
            }
            return;
        }
        if !self.in_place {
            return;
        }
        if self.over_quota
            && let Err(e) = self.file.set_len(self.rollback_to)
        {
            log::warn!("could not cut {} back: {e}", self.target.display());
        }
        if let Some(usage) = self.usage.take()
            && let Ok(m) = self.file.metadata()
        {
            usage.add(m.len() as i64 - self.start_len as i64, 0);
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
    use std::io::Write;

    use super::*;

    #[test]
    fn dropped_upload_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("f");
        let mut up = Upload::begin(target.clone(), UploadMode::Replace, false, None, None).unwrap();
        up.file().write_all(b"partial").unwrap();
        drop(up);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_new_name_is_written_unnamed_and_never_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("f");
        let mut up = Upload::begin(target.clone(), UploadMode::Replace, true, None, None).unwrap();
        up.file().write_all(b"mine").unwrap();
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            0,
            "no name while writing"
        );
        fs::write(&target, b"theirs").unwrap();
        let mut late =
            Upload::begin(target.clone(), UploadMode::Replace, true, None, None).unwrap();
        late.file().write_all(b"late").unwrap();
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
        let mut up =
            Upload::begin(target.clone(), UploadMode::Replace, true, None, Some(11)).unwrap();
        up.file().write_all(b"new").unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"old content");
        up.commit(false).unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"new");
        let mut up =
            Upload::begin(target.clone(), UploadMode::Resume(2), true, None, Some(3)).unwrap();
        up.file().write_all(b"XY").unwrap();
        up.commit(false).unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"neXY");
        assert!(matches!(
            Upload::begin(target.clone(), UploadMode::Resume(99), true, None, Some(4)),
            Err(Error::BadOffset)
        ));
        let mut up =
            Upload::begin(target.clone(), UploadMode::Append, false, None, Some(4)).unwrap();
        up.file().write_all(b"!").unwrap();
        up.commit(false).unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"neXY!");
    }
}
