//! Storage: the only module that turns client paths into stored entries. Every path goes
//! through `Storage::resolve` (`resolve.rs`, the jail), which keeps it inside the namespace
//! and applies the ownership/visibility rules of `access` to the back-end's records. This
//! file owns the rules of the operations on resolved paths (listing, reading, uploads,
//! directories, deletes, renames, ownership changes); the back-end (`backend.rs`: `local/`
//! or `s3/`) keeps the bytes and the records.

pub mod access;
pub mod backend;
pub mod local;
mod locks;
pub mod path;
pub mod quota;
pub mod record;
mod resolve;
pub mod s3;
pub mod upload;

use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

pub use access::{Access, Grants, PUBLIC_DIR};
pub use backend::{Backend, Reader, Stat};
pub use local::create_home_dir;
pub use path::VirtualPath;
pub use quota::Quota;
pub use record::Meta;
pub use resolve::Resolved;
pub use upload::{Upload, UploadMode};

use locks::{InPlaceWriters, PathGuard, PathLocks};
use quota::{Hold, Usage, UsageBook};

use crate::limits::MAX_LISTING_ENTRIES;
use crate::protocol::listing::{EntryFacts, EntryKind};
use crate::protocol::{Reply, codes};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no such file or directory")]
    NotFound,
    #[error("permission denied")]
    PermissionDenied,
    /// A path that tries to leave the jail or is malformed; logged by the session.
    #[error("path refused: {0}")]
    Refused(&'static str),
    #[error("file exists")]
    AlreadyExists,
    #[error("directory not empty")]
    NotEmpty,
    #[error("is a directory")]
    IsDirectory,
    #[error("not a plain file")]
    NotAFile,
    #[error("not a directory")]
    NotADirectory,
    #[error("restart offset beyond end of file")]
    BadOffset,
    #[error("no space left on device")]
    NoSpace,
    /// The owner's quota of bytes would be passed.
    #[error("quota exceeded (bytes)")]
    QuotaBytes,
    /// The owner's quota of files is used up.
    #[error("quota exceeded (files)")]
    QuotaFiles,
    /// Another upload writes this file in place right now.
    #[error("file busy")]
    Busy,
    /// The file was written elsewhere while this upload was sent; the upload was not kept.
    #[error("{0}")]
    Superseded(Superseded),
    #[error("{0}")]
    Io(io::Error),
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Error {
        use io::ErrorKind as K;
        if let Some(Superseded) = e.get_ref().and_then(|inner| inner.downcast_ref()) {
            return Error::Superseded(Superseded);
        }
        match e.kind() {
            K::NotFound => Error::NotFound,
            K::PermissionDenied => Error::PermissionDenied,
            K::AlreadyExists => Error::AlreadyExists,
            K::DirectoryNotEmpty => Error::NotEmpty,
            K::IsADirectory => Error::IsDirectory,
            K::NotADirectory => Error::NotADirectory,
            K::StorageFull | K::QuotaExceeded | K::FileTooLarge => Error::NoSpace,
            _ => Error::Io(e),
        }
    }
}

impl Error {
    /// The one place storage failures become reply codes.
    pub fn reply(&self) -> Reply {
        match self {
            Error::NotFound | Error::Refused(_) => {
                Reply::new(codes::UNAVAILABLE_FILE, "No such file or directory.")
            }
            Error::PermissionDenied => Reply::new(codes::UNAVAILABLE_FILE, "Permission denied."),
            Error::AlreadyExists => Reply::new(codes::UNAVAILABLE_FILE, "File exists."),
            Error::NotEmpty => Reply::new(codes::UNAVAILABLE_FILE, "Directory not empty."),
            Error::IsDirectory | Error::NotAFile => {
                Reply::new(codes::UNAVAILABLE_FILE, "Not a plain file.")
            }
            Error::NotADirectory => Reply::new(codes::UNAVAILABLE_FILE, "Not a directory."),
            Error::BadOffset => Reply::new(codes::BAD_RESTART, "Invalid REST parameter."),
            Error::NoSpace => {
                Reply::new(codes::INSUFFICIENT_STORAGE, "Insufficient storage space.")
            }
            Error::QuotaBytes => Reply::new(
                codes::EXCEEDED_STORAGE,
                "Quota exceeded: not enough room left; the upload was not kept.",
            ),
            Error::QuotaFiles => Reply::new(
                codes::EXCEEDED_STORAGE,
                "Quota exceeded: no more files allowed.",
            ),
            Error::Busy => Reply::new(
                codes::FILE_BUSY,
                "File busy: another upload is writing it; try again later.",
            ),
            Error::Superseded(_) => Reply::new(
                codes::LOCAL_ERROR,
                "Upload not kept: the file was changed while it was sent; try again.",
            ),
            Error::Io(_) => Reply::new(codes::LOCAL_ERROR, "Local error in processing."),
        }
    }
}

/// The back-end's sign that an upload lost to a write of the same file made meanwhile.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the file was written elsewhere during the upload")]
pub struct Superseded;

/// The access rules over one back-end, with the path locks and quota books they need.
#[derive(Debug)]
pub struct Storage {
    /// Striped per-path locks: publishing an upload, renaming and deleting re-check the
    /// ownership record and act under the locks of the paths involved.
    paths: PathLocks,
    backend: Box<dyn Backend>,
    /// What each owner's files add up to, for the owners a quota asked about.
    usage: UsageBook,
    /// The paths APPE and REST+STOR write in place now.
    writers: InPlaceWriters,
}

impl Storage {
    /// The local back-end: `root` on this machine, records in `journal` (see `local::Local`).
    pub fn open(
        root: &Path,
        journal: &Path,
        fsync_uploads: bool,
        is_account: &dyn Fn(&str) -> bool,
    ) -> io::Result<Storage> {
        let local = local::Local::open(root, journal, fsync_uploads, is_account)?;
        Ok(Storage::over(Box::new(local)))
    }

    /// The rules over any back-end.
    pub fn over(backend: Box<dyn Backend>) -> Storage {
        Storage {
            paths: PathLocks::default(),
            backend,
            usage: UsageBook::default(),
            writers: InPlaceWriters::default(),
        }
    }

    /// Creates a user's home `/<name>` if it is missing, owned by that user.
    pub fn ensure_home(&self, name: &str) -> Result<(), Error> {
        let virt = VirtualPath::root().join(name)?;
        if !virt.is_top_level() {
            return Err(Error::Refused("not a top-level name"));
        }
        let place = self.backend.locate(&virt)?.place;
        // SECURITY: only a directory made here becomes the user's; an existing one (a
        // shared directory that happens to have this name) is not adopted.
        match self
            .backend
            .make_dir(&place, virt.as_str(), Meta::new(name, false))
        {
            Ok(()) | Err(Error::AlreadyExists) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// True if a top-level directory `name` exists (in any letter case).
    pub fn top_dir_exists(&self, name: &str) -> bool {
        self.backend.top_dir_exists(name)
    }

    pub fn metadata(&self, r: &Resolved) -> Result<Stat, Error> {
        self.backend.stat(&r.real)
    }

    /// Facts for one entry, as seen by this session.
    pub fn facts(&self, grants: &Grants, r: &Resolved, stat: &Stat) -> EntryFacts {
        let name = r.virt.file_name().unwrap_or("/").to_owned();
        entry_facts(
            name,
            stat,
            r.access,
            r.is_root_or_top(),
            r.meta.as_ref(),
            grants,
        )
    }

    /// Lists a directory (or the synthetic root) sorted by name. Dot files only with `all`.
    pub fn list(
        &self,
        grants: &Grants,
        dir: &Resolved,
        all: bool,
    ) -> Result<Vec<EntryFacts>, Error> {
        let stat = self.metadata(dir)?;
        if !stat.is_dir() {
            return Ok(vec![self.facts(grants, dir, &stat)]);
        }
        let entries = self
            .backend
            .entries(&dir.real, &dir.virt, MAX_LISTING_ENTRIES + 1)?;
        if entries.len() > MAX_LISTING_ENTRIES {
            log::warn!(
                "listing of {} cut at {MAX_LISTING_ENTRIES} entries",
                dir.virt
            );
        }
        let mut out: Vec<EntryFacts> = entries
            .into_iter()
            .take(MAX_LISTING_ENTRIES)
            .filter_map(|entry| self.listed_entry(grants, dir, entry, all))
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// One entry of `dir` as this session may see it, or None when it is hidden from it
    /// (reserved names, dot files without `all`, ungranted top levels, others' private files).
    fn listed_entry(
        &self,
        grants: &Grants,
        dir: &Resolved,
        entry: backend::Entry,
        all: bool,
    ) -> Option<EntryFacts> {
        let name = entry.name;
        if name.starts_with(path::RESERVED_PREFIX) || (!all && name.starts_with('.')) {
            return None;
        }
        let (access, top) = if dir.virt.is_root() {
            (grants.top_level(&name)?, true)
        } else {
            (dir.access, false)
        };
        let child = format!("{}/{name}", dir.virt.as_str().trim_end_matches('/'));
        let (access, record) = if entry.is_link {
            // SECURITY: a link is listed as what it leads to, if this session may see that.
            let linked = VirtualPath::root()
                .join(&child)
                .and_then(|v| self.resolve_virtual(grants, v))
                .ok()?;
            (linked.access, linked.meta)
        } else {
            let record = match entry.record {
                Some(record) => record,
                None => self.backend.record(&child).ok()?,
            };
            if !top && !grants.can_see(record.as_ref()) {
                return None;
            }
            (access, record)
        };
        let stat = entry.stat?;
        if top && !stat.is_dir() {
            return None;
        }
        Some(entry_facts(
            name,
            &stat,
            access,
            top,
            record.as_ref(),
            grants,
        ))
    }

    /// Opens a plain file for download at `offset`; returns it with its length.
    pub fn open_read(&self, r: &Resolved, offset: u64) -> Result<(Reader, u64), Error> {
        self.backend.open_read(&r.real, offset)
    }

    /// Starts an upload. A new file gets a record (owner: this user, `public` as given) when it
    /// is committed; an existing one may be replaced or extended only by its owner or an admin.
    /// `quota` is the uploader's: it bounds what the upload adds to the files the uploader
    /// owns (`QuotaFiles`, `QuotaBytes` here, before anything on disk changes, or later from
    /// `Upload::wrote`). An admin changing someone else's file is stopped by no quota.
    pub fn begin_upload(
        &self,
        grants: &Grants,
        r: &Resolved,
        mode: UploadMode,
        public: bool,
        quota: Quota,
    ) -> Result<Upload, Error> {
        r.need_write()?;
        if r.is_root_or_top() {
            return Err(Error::PermissionDenied);
        }
        let existing = match self.backend.stat(&r.real) {
            Ok(m) if m.is_dir() => return Err(Error::NotAFile),
            Ok(m) => {
                r.need_modify(grants)?;
                Some(m.len())
            }
            Err(_) => None,
        };
        let record = existing.is_none().then(|| {
            (
                r.virt.as_str().to_owned(),
                Meta::new(grants.user_name(), public),
            )
        });
        // SECURITY: APPE or REST 0 + STOR of a new name writes a temp file published with
        // its record, like STOR: written in place, it would be visible (ownerless, public)
        // while the data flows.
        let mode = match mode {
            UploadMode::Append | UploadMode::Resume(0) if record.is_some() => UploadMode::Replace,
            other => other,
        };
        let owner = match existing {
            None => Some(grants.user_name()),
            Some(_) => r.meta.as_ref().map(|m| m.owner.as_str()),
        };
        let writer = match mode {
            UploadMode::Replace => None,
            _ => Some(self.writers.claim(r.virt.as_str()).ok_or(Error::Busy)?),
        };
        let (hold, usage) = self.claim(owner, grants.user_name(), quota, existing, mode)?;
        let sink = self.backend.begin_upload(
            &r.real,
            mode,
            existing,
            backend::UploadRecord {
                new: record.clone(),
                kept: r.meta.clone(),
            },
        )?;
        Ok(Upload::new(
            sink,
            (r.virt.as_str(), &r.real),
            record,
            (hold, usage, writer),
        ))
    }

    /// The upload's claim on the uploader's quota (when the file is the uploader's and a
    /// quota applies), and the owner's usage to keep current (when it is counted).
    fn claim(
        &self,
        owner: Option<&str>,
        uploader: &str,
        quota: Quota,
        existing: Option<u64>,
        mode: UploadMode,
    ) -> Result<(Option<Hold>, Option<Arc<Usage>>), Error> {
        let Some(owner) = owner else {
            return Ok((None, None));
        };
        if owner != uploader || quota.is_none() {
            return Ok((None, self.usage.existing(owner)));
        }
        let usage = self.usage.of(owner, || self.count_owned(owner))?;
        // What the upload rewrites of the owner's own file needs no new room.
        let credit = match (mode, existing) {
            (UploadMode::Replace, Some(len)) => len,
            (UploadMode::Resume(offset), Some(len)) => len.saturating_sub(offset),
            _ => 0,
        };
        let hold = Hold::begin(Arc::clone(&usage), quota, credit, existing.is_none())?;
        Ok((Some(hold), Some(usage)))
    }

    /// Bytes and files of what `owner`'s records name, from the back-end (once per owner).
    fn count_owned(&self, owner: &str) -> Result<(u64, u64), Error> {
        let (bytes, files) = self.backend.count_owned(owner).inspect_err(|e| {
            log::error!("cannot count what {owner} owns for the quota: {e}");
        })?;
        log::info!("counted what {owner} owns for the quota: {files} files, {bytes} bytes");
        Ok((bytes, files))
    }

    /// `SITE QUOTA`: bytes and files `owner` owns now.
    pub fn usage_of(&self, owner: &str) -> Result<(u64, u64), Error> {
        Ok(self.usage.of(owner, || self.count_owned(owner))?.owned())
    }

    /// The account `name` was deleted: its files stay, owned by a tombstone no new account
    /// of the same name inherits. `seq` numbers a deletion from `deleted-accounts.txt`.
    pub fn disown(&self, name: &str, seq: Option<u64>) -> Result<(), Error> {
        self.backend.disown(name, seq)?;
        self.usage.forget(name);
        Ok(())
    }

    /// The `seq` of the last logged account deletion applied to the ownership records.
    pub fn deletions_applied(&self) -> u64 {
        self.backend.deletions_applied()
    }

    /// True for admins, and when every recorded entry below `dir` belongs to this user.
    fn others_absent_below(&self, grants: &Grants, dir: &VirtualPath) -> bool {
        grants.is_admin()
            || self
                .backend
                .subtree_owned_by(dir.as_str(), grants.user_name())
    }

    /// Records `path`'s owner and visibility directly (for tools that place files on disk).
    pub fn record_ownership(&self, path: &VirtualPath, meta: Meta) -> Result<(), Error> {
        self.usage.forget(&meta.owner);
        self.backend.set_record(path.as_str(), meta)?;
        Ok(())
    }

    /// Publishes a finished upload: its ownership record is made durable first (journaled and
    /// fsynced; or on the object itself), then the name appears, so a crash or power cut can
    /// never show a private upload without its owner.
    ///
    /// SECURITY: the checks of `begin_upload` are repeated here, under the lock of this path,
    /// because the name may have changed hands while the data flowed: a new file never
    /// replaces one published meanwhile (by anyone), and an overwrite still needs the right
    /// to modify what is there now. The lock is this path's alone, and the data's flush
    /// (before) and the directory's (after, still before the 226) are outside it.
    pub fn finish_upload(&self, grants: &Grants, mut upload: Upload) -> Result<(), Error> {
        upload.sink.sync_contents()?;
        let fresh = upload.is_replace();
        let replaced = {
            let _publishing = self.lock_paths(&[upload.virt.as_str()]);
            self.publish(grants, &mut upload)?
        };
        if fresh && let Some(usage) = upload.usage.take() {
            let len = upload.sink.size().unwrap_or(0);
            let (old_len, new_files) = replaced;
            usage.add(len as i64 - old_len as i64, new_files);
        }
        upload.sink.settle()
    }

    /// Under the path's lock: the checks again, then the record and the name. Returns what a
    /// fresh STOR replaced for its owner's usage: (bytes, files added).
    fn publish(&self, grants: &Grants, upload: &mut Upload) -> Result<(u64, i64), Error> {
        match upload.record.clone() {
            Some((path, meta)) => {
                if upload.is_replace() && self.backend.exists(&upload.place) {
                    return Err(Error::AlreadyExists);
                }
                if upload.usage.is_none() {
                    upload.usage = self.usage.existing(&meta.owner);
                }
                upload.sink.publish(Some((&path, &meta)), true)?;
                Ok((0, 1))
            }
            None => {
                let record = self.backend.record(&upload.virt)?;
                if !grants.can_modify(record.as_ref()) {
                    return Err(Error::PermissionDenied);
                }
                if upload.usage.is_none()
                    && let Some(record) = &record
                {
                    upload.usage = self.usage.existing(&record.owner);
                }
                let old_len = match upload.usage {
                    Some(_) if upload.is_replace() => {
                        self.backend.stat(&upload.place).map_or(0, |m| m.len())
                    }
                    _ => 0,
                };
                if upload.is_replace()
                    && let Some(hold) = &upload.hold
                    && !hold.fits_replacing(old_len, upload.sink.size()?)
                {
                    return Err(Error::QuotaBytes);
                }
                upload.sink.carry_record(record.as_ref());
                upload.sink.publish(None, false)?;
                Ok((old_len, 0))
            }
        }
    }

    /// Holds `paths` for a check-then-act on them (see `locks`).
    fn lock_paths(&self, paths: &[&str]) -> PathGuard<'_> {
        self.paths.lock(paths)
    }

    pub fn exists(&self, r: &Resolved) -> bool {
        self.backend.exists(&r.real)
    }

    pub fn make_dir(&self, grants: &Grants, r: &Resolved, public: bool) -> Result<(), Error> {
        let _locked = self.lock_paths(&[r.virt.as_str()]);
        r.need_write()?;
        if r.virt.is_root() || (r.virt.is_top_level() && !grants.is_admin()) {
            return Err(Error::PermissionDenied);
        }
        self.backend.make_dir(
            &r.real,
            r.virt.as_str(),
            Meta::new(grants.user_name(), public),
        )
    }

    pub fn remove_dir(&self, grants: &Grants, r: &Resolved) -> Result<(), Error> {
        let _locked = self.lock_paths(&[r.virt.as_str()]);
        let r = &self.resolve_virtual(grants, r.virt.clone())?;
        if r.virt.is_root() || (r.virt.is_top_level() && !grants.is_admin()) {
            return Err(Error::PermissionDenied);
        }
        if !self.backend.stat(&r.real)?.is_dir() || r.is_link {
            return Err(Error::NotADirectory);
        }
        r.need_modify(grants)?;
        self.backend.remove_dir(&r.real, r.virt.as_str())
    }

    /// DELE: the owner or an admin, judged under the path's lock on what is there now.
    pub fn remove_file(&self, grants: &Grants, r: &Resolved) -> Result<(), Error> {
        let _locked = self.lock_paths(&[r.virt.as_str()]);
        let r = &self.resolve_virtual(grants, r.virt.clone())?;
        let stat = self.backend.stat(&r.real)?;
        if stat.is_dir() && !r.is_link {
            return Err(Error::IsDirectory);
        }
        r.need_modify(grants)?;
        self.backend.remove_file(&r.real, r.virt.as_str())?;
        // A link's record is its target's: removing the link frees nothing of its owner's.
        if !r.is_link
            && let Some(record) = &r.meta
            && let Some(usage) = self.usage.existing(&record.owner)
        {
            usage.add(-(stat.len() as i64), -1);
        }
        Ok(())
    }

    /// Renames within the jail (records of a whole tree follow); an existing target is
    /// refused rather than silently replaced.
    ///
    /// SECURITY: RNFR only names the source; both ends are resolved and judged again here,
    /// under their locks, so a file that changed hands since RNFR (deleted, and uploaded
    /// anew by someone else) is judged as what it is now.
    pub fn rename(
        &self,
        grants: &Grants,
        from: &VirtualPath,
        to: &VirtualPath,
    ) -> Result<(Resolved, Resolved), Error> {
        let (from, to) = (
            self.resolve_virtual(grants, from.clone())?,
            self.resolve_virtual(grants, to.clone())?,
        );
        let _locked = self.lock_paths(&[from.virt.as_str(), to.virt.as_str()]);
        let from = self.resolve_virtual(grants, from.virt)?;
        let to = self.resolve_virtual(grants, to.virt)?;
        self.rename_locked(grants, &from, &to)?;
        Ok((from, to))
    }

    fn rename_locked(&self, grants: &Grants, from: &Resolved, to: &Resolved) -> Result<(), Error> {
        for r in [from, to] {
            if r.virt.is_root() || (r.virt.is_top_level() && !grants.is_admin()) {
                return Err(Error::PermissionDenied);
            }
        }
        let from_stat = self.backend.stat(&from.real)?;
        from.need_modify(grants)?;
        to.need_write()?;
        // SECURITY: moving a directory moves everyone's files in it; the owner of the
        // directory alone must not carry other users' files out of their reach.
        if from_stat.is_dir() && !self.others_absent_below(grants, &from.virt) {
            return Err(Error::PermissionDenied);
        }
        if self.backend.exists(&to.real) {
            return Err(Error::AlreadyExists);
        }
        // SECURITY: a directory moved into itself would vanish from the namespace.
        if to
            .virt
            .as_str()
            .starts_with(&format!("{}/", from.virt.as_str()))
        {
            return Err(Error::Refused("directory moved into itself"));
        }
        self.backend.rename(
            (&from.real, from.virt.as_str()),
            (&to.real, to.virt.as_str()),
        )
    }

    /// SITE VISIBILITY / SITE CHMOD: the owner or an admin. An entry with no record gets one
    /// owned by the admin who set it.
    pub fn set_visibility(&self, grants: &Grants, r: &Resolved, public: bool) -> Result<(), Error> {
        let _locked = self.lock_paths(&[r.virt.as_str()]);
        let r = &self.resolve_virtual(grants, r.virt.clone())?;
        if r.is_root_or_top() {
            return Err(Error::PermissionDenied);
        }
        let stat = self.backend.stat(&r.real)?;
        r.need_modify(grants)?;
        // SECURITY: a private directory hides everything in it; only when it holds nobody
        // else's files may its owner close it.
        if !public && stat.is_dir() && !self.others_absent_below(grants, &r.virt) {
            return Err(Error::PermissionDenied);
        }
        let owner = r.meta.as_ref().map_or_else(
            || {
                // A file nobody owned becomes the admin's: counted anew when needed.
                self.usage.forget(grants.user_name());
                grants.user_name().to_owned()
            },
            |m| m.owner.clone(),
        );
        self.backend
            .set_record(r.virt.as_str(), Meta { owner, public })
    }

    pub fn set_modified(
        &self,
        grants: &Grants,
        r: &Resolved,
        when: SystemTime,
    ) -> Result<(), Error> {
        let _locked = self.lock_paths(&[r.virt.as_str()]);
        let r = &self.resolve_virtual(grants, r.virt.clone())?;
        self.backend.stat(&r.real)?;
        r.need_modify(grants)?;
        self.backend.set_modified(&r.real, when)
    }
}

/// Listing facts; `perm` tells the truth for this session (RFC 3659 7.5.5).
fn entry_facts(
    name: String,
    stat: &Stat,
    access: Access,
    top_level: bool,
    record: Option<&Meta>,
    grants: &Grants,
) -> EntryFacts {
    let writable = access == Access::ReadWrite;
    let modifiable = writable && !top_level && grants.can_modify(record);
    let (kind, perm) = if stat.is_dir() {
        let perm = match (writable, modifiable) {
            (true, true) => "cdeflmp",
            (true, false) => "celm",
            (false, _) => "el",
        };
        (EntryKind::Dir, perm)
    } else {
        (EntryKind::File, if modifiable { "adfrw" } else { "r" })
    };
    EntryFacts {
        name,
        kind,
        size: if stat.is_dir() { 4096 } else { stat.len() },
        modified: stat.modified(),
        owner: record.map(|m| m.owner.clone()),
        public: record.is_none_or(|m| m.public),
        perm: perm.to_owned(),
        unique: stat.unique,
    }
}
