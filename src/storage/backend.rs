//! The seam between the access rules (`Storage`, above) and where the bytes are kept (below):
//! the local file system (`local/`) or an S3 object store (`s3/`). A back-end knows names,
//! bytes and ownership records; it knows nothing of grants, visibility or quotas.

use std::fmt::Debug;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::{Error, Meta, UploadMode, VirtualPath};

/// What a back-end says of one entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    pub is_dir: bool,
    pub len: u64,
    pub modified: SystemTime,
    /// Stable identity for MLSD's `unique` fact.
    pub unique: (u64, u64),
}

impl Stat {
    pub fn is_dir(&self) -> bool {
        self.is_dir
    }

    pub fn is_file(&self) -> bool {
        !self.is_dir
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn modified(&self) -> SystemTime {
        self.modified
    }
}

/// One name in a directory.
#[derive(Debug)]
pub struct Entry {
    pub name: String,
    /// A symlink placed on disk: the caller judges it by where it leads.
    pub is_link: bool,
    /// What it is (a link: what it leads to); `None` when that cannot be read.
    pub stat: Option<Stat>,
    /// Its ownership record, when the listing brings it along (object stores do).
    pub record: Option<Option<Meta>>,
}

/// Where a namespace path is kept.
#[derive(Debug)]
pub struct Located {
    /// The path with links above it resolved: the key of its ownership record.
    pub virt: VirtualPath,
    /// Where the back-end keeps it (a real path; an object key).
    pub place: PathBuf,
    /// For a final symlink to a file: where it leads.
    pub link_target: Option<VirtualPath>,
}

/// A download's source: a file (sendfile and splice apply) or a stream of bytes.
pub enum Reader {
    File(File),
    Stream(Box<dyn Read + Send>),
}

impl Read for Reader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Reader::File(f) => f.read(buf),
            Reader::Stream(s) => s.read(buf),
        }
    }
}

/// What an upload needs to know of its file's ownership when it begins.
#[derive(Debug, Clone)]
pub struct UploadRecord {
    /// A new file: the record it gets when published.
    pub new: Option<(String, Meta)>,
    /// An existing file: the record it has now (kept with the new contents).
    pub kept: Option<Meta>,
}

/// The data of one upload on its way to its back-end. Dropped unpublished, it leaves nothing
/// (an in-place resume keeps what arrived, as a REST expects).
pub trait Sink: Send + Debug {
    fn write_all(&mut self, data: &[u8]) -> io::Result<()>;
    /// The file written, where there is one (plain uploads splice into it).
    fn file(&self) -> Option<&File>;
    /// Opened for appending (splice cannot write such a file).
    fn is_append(&self) -> bool;
    /// `n` more bytes reached the sink (through `write_all` or `file()`).
    fn wrote(&mut self, n: usize);
    /// Length of what the upload has made so far (the whole new file).
    fn size(&mut self) -> io::Result<u64>;
    /// A fresh STOR (published whole), as opposed to writing in place; fixed at the start.
    fn is_replace(&self) -> bool;
    /// Before any lock: the contents reach the store (flushed, or the last part sent).
    fn sync_contents(&mut self) -> Result<(), Error>;
    /// Under the path's lock: the upload becomes visible under its name, with `record` (a
    /// new file's) made durable first. `no_replace`: never over a file that appeared
    /// meanwhile (`AlreadyExists`).
    fn publish(&mut self, record: Option<(&str, &Meta)>, no_replace: bool) -> Result<(), Error>;
    /// Under the path's lock, before a file is replaced or extended: its record now (it may
    /// have changed during the upload). A back-end that keeps records apart from the data
    /// needs nothing.
    fn carry_record(&mut self, _current: Option<&Meta>) {}
    /// After the lock: what is left to make the published upload durable.
    fn settle(&mut self) -> Result<(), Error>;
    /// The quota stopped an in-place upload: cut it back to where it began.
    fn roll_back(&mut self);
    /// An in-place upload's length before it began.
    fn start_len(&self) -> u64;
}

/// Where the bytes and the ownership records are kept.
pub trait Backend: Send + Sync + Debug {
    /// Where `virt` is kept; a back-end with links resolves them (and refuses those leading out).
    fn locate(&self, virt: &VirtualPath) -> Result<Located, Error>;
    /// What is at `place` (following a final link).
    fn stat(&self, place: &Path) -> Result<Stat, Error>;
    /// True when anything has that name (a dangling link too).
    fn exists(&self, place: &Path) -> bool;
    /// The names in directory `place` (its record key `virt`), at most `limit`.
    fn entries(&self, place: &Path, virt: &VirtualPath, limit: usize) -> Result<Vec<Entry>, Error>;
    /// True if a top-level directory `name` exists, in any letter case.
    fn top_dir_exists(&self, name: &str) -> bool;
    /// Opens a plain file for download: the reader starts at `offset`; with its length.
    fn open_read(&self, place: &Path, offset: u64) -> Result<(Reader, u64), Error>;
    /// Starts an upload to `place` (`existing`: its length now, if there is a file).
    fn begin_upload(
        &self,
        place: &Path,
        mode: UploadMode,
        existing: Option<u64>,
        record: UploadRecord,
    ) -> Result<Box<dyn Sink>, Error>;
    /// Creates a directory with its record; `AlreadyExists` when the name is taken.
    fn make_dir(&self, place: &Path, virt: &str, meta: Meta) -> Result<(), Error>;
    /// Removes an empty directory (`NotEmpty` otherwise) and its record.
    fn remove_dir(&self, place: &Path, virt: &str) -> Result<(), Error>;
    /// Removes a file (or a link) and its record.
    fn remove_file(&self, place: &Path, virt: &str) -> Result<(), Error>;
    /// Moves a file or a whole directory, records included; the caller made sure `to` is free.
    fn rename(&self, from: (&Path, &str), to: (&Path, &str)) -> Result<(), Error>;
    fn set_modified(&self, place: &Path, when: SystemTime) -> Result<(), Error>;
    /// The ownership record of `virt`.
    fn record(&self, virt: &str) -> Result<Option<Meta>, Error>;
    /// The record of `virt`, known to be a directory if it exists (a path's ancestors).
    fn dir_record(&self, virt: &str) -> Result<Option<Meta>, Error> {
        self.record(virt)
    }
    /// Sets the record of an existing entry.
    fn set_record(&self, virt: &str, meta: Meta) -> Result<(), Error>;
    /// Bytes and files of the plain files `owner` owns.
    fn count_owned(&self, owner: &str) -> Result<(u64, u64), Error>;
    /// True if every record strictly below `virt` is `owner`'s.
    fn subtree_owned_by(&self, virt: &str, owner: &str) -> bool;
    /// Hands a deleted account's entries to its tombstone owner.
    fn disown(&self, owner: &str, seq: Option<u64>) -> Result<(), Error>;
    /// The `seq` of the last logged account deletion applied to the records.
    fn deletions_applied(&self) -> u64;
}
