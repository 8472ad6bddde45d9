//! Uploads to the object store: the data is held in memory up to one part (8 MiB); a file that
//! stays under it is one PUT when published, a larger one a multipart upload completed when
//! published and aborted when dropped, so the object appears whole or not at all. REST and
//! APPE build a new object from the stored one's first bytes (streamed) and the new data.

use std::fs::File;
use std::io::{self, Read};
use std::sync::Arc;

use super::client::{Client, S3Error};
use super::recent::Recent;
use crate::storage::backend::Sink;
use crate::storage::{Error, Meta, Superseded, UploadMode};

/// Size of every part but the last (S3 wants at least 5 MiB).
pub const PART_SIZE: usize = 8 * 1024 * 1024;
/// S3's limit on parts per upload.
const MAX_PARTS: usize = 10_000;

#[derive(Debug)]
pub struct ObjectSink {
    client: Arc<Client>,
    /// This node's memory of the store, told when the object changes.
    recent: Arc<Recent>,
    /// The marker of the directory the object goes into (checked again when publishing).
    parent: Option<String>,
    key: String,
    /// The part being filled.
    buf: Vec<u8>,
    /// Set once the first part is sent.
    upload_id: Option<String>,
    etags: Vec<String>,
    /// The record the object carries: a new file's, or the one the replaced file has (read
    /// again under the path lock when publishing).
    record: Option<Meta>,
    /// Over an existing object: its record may change while the data flows.
    replacing: bool,
    /// The record a multipart upload was created with.
    created_with: Option<Meta>,
    in_place: bool,
    start_len: u64,
    total: u64,
    published: bool,
}

fn store_error(e: S3Error) -> io::Error {
    io::Error::from(e)
}

/// A part or the completion of a multipart upload failed: a vanished upload means the object
/// was written meanwhile (Garage drops the uploads older than a finished write).
fn part_error(e: S3Error) -> io::Error {
    if e.is_no_such_upload() {
        log::warn!("{e}");
        return io::Error::other(Superseded);
    }
    io::Error::from(e)
}

impl ObjectSink {
    pub(super) fn begin(
        (client, recent, parent): (Arc<Client>, Arc<Recent>, Option<String>),
        key: String,
        mode: UploadMode,
        existing: Option<u64>,
        record: Option<Meta>,
    ) -> Result<ObjectSink, Error> {
        let start_len = existing.unwrap_or(0);
        let mut sink = ObjectSink {
            client,
            recent,
            parent,
            key,
            buf: Vec::new(),
            upload_id: None,
            etags: Vec::new(),
            record,
            replacing: existing.is_some(),
            created_with: None,
            in_place: mode != UploadMode::Replace,
            start_len,
            total: 0,
            published: false,
        };
        let keep = match mode {
            UploadMode::Replace => 0,
            UploadMode::Append => start_len,
            UploadMode::Resume(offset) if existing.is_none() => {
                return Err(if offset == 0 {
                    Error::NotFound
                } else {
                    Error::BadOffset
                });
            }
            UploadMode::Resume(offset) if offset > start_len => return Err(Error::BadOffset),
            UploadMode::Resume(offset) => offset,
        };
        if keep > 0 {
            sink.copy_stored(keep)?;
        }
        Ok(sink)
    }

    /// The first `keep` bytes of the stored object, streamed into the new one.
    fn copy_stored(&mut self, keep: u64) -> Result<(), Error> {
        let source = self.client.get(&self.key, 0).map_err(store_error)?;
        let mut source = source.take(keep);
        let mut chunk = vec![0u8; 256 * 1024];
        loop {
            let n = source.read(&mut chunk)?;
            if n == 0 {
                break;
            }
            self.write_all(&chunk[..n])?;
        }
        if self.total != keep {
            return Err(Error::Io(io::Error::other(
                "the stored object is shorter than it said",
            )));
        }
        Ok(())
    }

    /// Sends the filled part (all of `buf` when `last`).
    fn send_part(&mut self, last: bool) -> io::Result<()> {
        let len = if last { self.buf.len() } else { PART_SIZE };
        if self.etags.len() >= MAX_PARTS {
            return Err(io::Error::new(
                io::ErrorKind::FileTooLarge,
                "file too large for the object store",
            ));
        }
        let id = match &self.upload_id {
            Some(id) => id.clone(),
            None => {
                // SECURITY: over an existing file, the parts go up private: its owner may make
                // it private before the upload ends, and the object must never show the old
                // visibility once complete (`publish` sets the record the file has then).
                let created_with = match (&self.record, self.replacing) {
                    (Some(meta), true) => Some(Meta::new(meta.owner.clone(), false)),
                    (record, _) => record.clone(),
                };
                let id = self
                    .client
                    .create_multipart(&self.key, created_with.as_ref())
                    .map_err(store_error)?;
                self.created_with = created_with;
                self.upload_id = Some(id.clone());
                id
            }
        };
        let number = u16::try_from(self.etags.len() + 1).unwrap_or(u16::MAX);
        let etag = self
            .client
            .upload_part(&self.key, &id, number, &self.buf[..len])
            .map_err(part_error)?;
        self.etags.push(etag);
        self.buf.drain(..len);
        Ok(())
    }
}

impl Sink for ObjectSink {
    fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        self.buf.extend_from_slice(data);
        self.total += data.len() as u64;
        while self.buf.len() >= PART_SIZE {
            self.send_part(false)?;
        }
        Ok(())
    }

    fn file(&self) -> Option<&File> {
        None
    }

    fn is_append(&self) -> bool {
        false
    }

    fn wrote(&mut self, _n: usize) {}

    /// Until it is published, an in-place upload has changed nothing stored.
    fn size(&mut self) -> io::Result<u64> {
        if self.in_place && !self.published {
            Ok(self.start_len)
        } else {
            Ok(self.total)
        }
    }

    fn is_replace(&self) -> bool {
        !self.in_place
    }

    /// The last part goes out before the lock (a small file waits: its one PUT publishes it).
    fn sync_contents(&mut self) -> Result<(), Error> {
        if self.upload_id.is_some() && !self.buf.is_empty() {
            self.send_part(true)?;
        }
        Ok(())
    }

    /// The record was given when the upload began (it travels on the object itself).
    ///
    /// SECURITY: `no_replace` was checked by the caller under this node's path lock; the
    /// store has no honoured conditional write, so two nodes racing for one new name both
    /// succeed and the later object wins.
    fn publish(&mut self, _record: Option<(&str, &Meta)>, _no_replace: bool) -> Result<(), Error> {
        // SECURITY: the directory may have gone (or moved) while the data flowed; an object
        // under its old name would make it reappear without its owner.
        if let Some(parent) = &self.parent
            && self.client.head(parent).map_err(store_error)?.is_none()
        {
            return Err(Error::NotFound);
        }
        match &self.upload_id {
            Some(id) => {
                self.client
                    .complete_multipart(&self.key, id, &self.etags)
                    .map_err(part_error)?;
                self.published = true;
                if self.created_with != self.record {
                    self.recent.forget(&self.key);
                    self.client
                        .copy(&self.key, &self.key, self.record.as_ref(), None)
                        .map_err(store_error)?;
                }
            }
            None => {
                self.client
                    .put(&self.key, &self.buf, self.record.as_ref(), None)
                    .map_err(store_error)?;
            }
        }
        self.published = true;
        self.recent.forget(&self.key);
        Ok(())
    }

    /// The replaced object's record as it is now, under the path lock: the new object takes
    /// it, not the one read when the upload began.
    fn carry_record(&mut self, current: Option<&Meta>) {
        if self.replacing {
            self.record = current.cloned();
        }
    }

    fn settle(&mut self) -> Result<(), Error> {
        Ok(())
    }

    /// Nothing to cut: an unpublished object was never there.
    fn roll_back(&mut self) {}

    fn start_len(&self) -> u64 {
        self.start_len
    }
}

impl Drop for ObjectSink {
    fn drop(&mut self) {
        if !self.published
            && let Some(id) = &self.upload_id
            && let Err(e) = self.client.abort_multipart(&self.key, id)
        {
            log::warn!("could not abort the multipart upload of {}: {e}", self.key);
        }
    }
}
