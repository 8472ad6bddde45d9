//! An upload as the access rules see it: the back-end's sink, the record a new file gets, and
//! the quota's claim and usage it keeps current. Dropped unpublished, it leaves nothing.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::Error;
use super::backend::Sink;
use super::locks::WriterClaim;
use super::quota::{Hold, Usage};
use super::record::Meta;

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

/// An upload in progress.
#[derive(Debug)]
pub struct Upload {
    pub(super) sink: Box<dyn Sink>,
    /// The ownership record a new file gets when the upload is committed.
    pub(super) record: Option<(String, Meta)>,
    /// The namespace path (for the ownership re-check at commit) and where it is kept.
    pub(super) virt: String,
    pub(super) place: PathBuf,
    /// The claim on the uploader's quota, when one applies.
    pub(super) hold: Option<Hold>,
    /// In place: this upload's claim on its path (one in-place writer per path).
    pub(super) _writer: Option<WriterClaim>,
    /// The usage of the file's owner, when counted: kept current at the end.
    pub(super) usage: Option<Arc<Usage>>,
    over_quota: bool,
}

impl Upload {
    pub(super) fn new(
        sink: Box<dyn Sink>,
        (virt, place): (&str, &Path),
        record: Option<(String, Meta)>,
        claims: (Option<Hold>, Option<Arc<Usage>>, Option<WriterClaim>),
    ) -> Upload {
        let (hold, usage, writer) = claims;
        Upload {
            sink,
            record,
            virt: virt.to_owned(),
            place: place.to_path_buf(),
            hold,
            _writer: writer,
            usage,
            over_quota: false,
        }
    }

    /// True when the file is in append mode (splice(2) cannot write to such a file).
    pub fn is_append(&self) -> bool {
        self.sink.is_append()
    }

    /// The file written, when the back-end writes one (plain uploads splice into it).
    pub fn file(&self) -> Option<&File> {
        self.sink.file()
    }

    pub fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        self.sink.write_all(data)
    }

    /// Tells the upload `n` more bytes reached it: `QuotaBytes` when they pass the quota (the
    /// upload must stop; dropped, it leaves nothing of itself, and its claim on the quota is
    /// given back at once).
    pub fn wrote(&mut self, n: usize) -> Result<(), Error> {
        if let Some(hold) = &mut self.hold
            && let Err(e) = hold.grow(n as u64)
        {
            self.over_quota = true;
            self.hold = None;
            return Err(e);
        }
        self.sink.wrote(n);
        Ok(())
    }

    /// A fresh STOR (published whole), as opposed to a resume or append in place.
    pub(super) fn is_replace(&self) -> bool {
        self.sink.is_replace()
    }
}

impl Drop for Upload {
    /// One in place keeps what arrived (a later REST resumes it) unless the quota stopped it;
    /// its owner's usage follows the file either way.
    fn drop(&mut self) {
        if self.sink.is_replace() {
            return;
        }
        if self.over_quota {
            self.sink.roll_back();
        }
        if let Some(usage) = self.usage.take()
            && let Ok(len) = self.sink.size()
        {
            usage.add(len as i64 - self.sink.start_len() as i64, 0);
        }
    }
}
