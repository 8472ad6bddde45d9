//! The S3 back-end (`storage = "s3"`): the FTP namespace as keys under `s3_prefix`
//! (`Public/a.txt`), directories as key prefixes with an empty `DIR/` marker object, and each
//! entry's ownership record as user metadata on its object or marker, so every node in front
//! of the bucket sees the same access model. Renames are copy + delete. No conditional
//! writes are relied on (Garage accepts them without honouring them).

pub mod client;
mod recent;
pub mod upload;

use std::hash::{Hash, Hasher};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use super::backend::{Backend, Entry, Located, Reader, Sink, Stat, UploadRecord};
use super::record::tombstone;
use super::{Error, Meta, PUBLIC_DIR, UploadMode, VirtualPath};
pub use client::Endpoint;
use client::{Client, Head, S3Error};
use recent::{DirSeen, Recent, Seen};
use upload::ObjectSink;

/// Top-level name kept for the server's own objects (accounts); never part of the namespace.
pub const RESERVED_TOP: &str = "_ferroftp";
/// Keys a listing asks for per request.
const PAGE: usize = 1000;
/// Most objects one directory rename, ownership scan or deletion walks.
const MAX_WALK: usize = 200_000;

impl From<S3Error> for Error {
    fn from(e: S3Error) -> Error {
        match e.status() {
            Some(404) => Error::NotFound,
            Some(403) => Error::Io(io::Error::new(
                io::ErrorKind::PermissionDenied,
                e.to_string(),
            )),
            _ => Error::Io(io::Error::other(e.to_string())),
        }
    }
}

#[derive(Debug)]
pub struct ObjectStore {
    client: Arc<Client>,
    /// "" or "some/prefix/".
    prefix: String,
    deletions_applied: AtomicU64,
    /// Where this node keeps `deletions_applied` (its deletion log is its own).
    applied_file: PathBuf,
    /// What this node read from the store in the last second.
    recent: Arc<Recent>,
}

impl ObjectStore {
    /// Connects to the bucket (one listing proves the endpoint, the keys and the bucket) and
    /// makes sure `Public/` exists.
    pub fn open(
        endpoint: &Endpoint,
        prefix: &str,
        applied_file: &Path,
    ) -> Result<ObjectStore, Error> {
        let prefix = match prefix.trim_matches('/') {
            "" => String::new(),
            p => format!("{p}/"),
        };
        let store = ObjectStore {
            client: Arc::new(Client::new(endpoint)?),
            prefix,
            deletions_applied: AtomicU64::new(
                std::fs::read_to_string(applied_file)
                    .ok()
                    .and_then(|t| t.trim().parse().ok())
                    .unwrap_or(0),
            ),
            applied_file: applied_file.to_path_buf(),
            recent: Arc::new(Recent::default()),
        };
        store.client.list(&store.prefix, true, 1, None)?;
        let public = VirtualPath::top(PUBLIC_DIR);
        let place = store.place_of(&public);
        if store.stat(&place).is_err() {
            let marker = store.dir_prefix(&place);
            store.client.put(&marker, b"", None, None)?;
            store.recent.forget(&marker);
        }
        Ok(store)
    }

    fn place_of(&self, virt: &VirtualPath) -> PathBuf {
        PathBuf::from(format!(
            "{}{}",
            self.prefix,
            virt.as_str().trim_start_matches('/')
        ))
    }

    fn key<'p>(&self, place: &'p Path) -> &'p str {
        place.to_str().unwrap_or_default()
    }

    fn is_root(&self, place: &Path) -> bool {
        self.key(place) == self.prefix.as_str()
    }

    /// The prefix of the keys inside a directory (its marker's key).
    fn dir_prefix(&self, place: &Path) -> String {
        if self.is_root(place) {
            self.prefix.clone()
        } else {
            format!("{}/", self.key(place))
        }
    }

    /// HEAD of `key`, from this node's short memory when fresh.
    fn head(&self, key: &str) -> Result<Option<Head>, Error> {
        if let Some(Seen::Head(head)) = self.recent.get(key) {
            return Ok(head);
        }
        self.head_fresh(key)
    }

    fn head_fresh(&self, key: &str) -> Result<Option<Head>, Error> {
        let head = self.client.head(key)?;
        self.recent.put(key, Seen::Head(head.clone()));
        Ok(head)
    }

    /// The directory whose keys start with `marker`, if there is one: its marker (with the
    /// record), or keys below it. One listing, and the marker's HEAD when it has one.
    fn dir(&self, marker: &str) -> Result<Option<DirSeen>, Error> {
        if let Some(Seen::Dir(dir)) = self.recent.get(marker) {
            return Ok(dir);
        }
        let page = self.client.list(marker, false, 1, None)?;
        let dir = match page.objects.first() {
            None => None,
            Some(first) if first.key == marker => {
                let head = self.client.head(marker)?;
                Some(DirSeen {
                    modified: head
                        .as_ref()
                        .map(|h| h.modified)
                        .or(first.modified)
                        .unwrap_or(UNIX_EPOCH),
                    record: head.and_then(|h| h.record),
                })
            }
            // SECURITY: keys below a name with no marker are no directory: it would have no
            // owner (public, and changed by admins only).
            Some(_) => None,
        };
        self.recent.put(marker, Seen::Dir(dir.clone()));
        Ok(dir)
    }

    /// The marker of the directory `place` is in; `None` at the top (the root always is).
    fn parent_marker(&self, place: &Path) -> Option<String> {
        let rel = self.key(place).strip_prefix(self.prefix.as_str())?;
        rel.rfind('/')
            .map(|end| format!("{}{}/", self.prefix, &rel[..end]))
    }

    /// SECURITY: a new entry goes only into a directory that exists now, with its marker (and
    /// so its owner and visibility): asked afresh, never from this node's memory.
    fn parent_exists(&self, marker: Option<&str>) -> Result<(), Error> {
        match marker {
            Some(marker) if self.client.head(marker)?.is_none() => Err(Error::NotFound),
            _ => Ok(()),
        }
    }

    /// MFMT: the object (or the directory's marker) copied onto itself with the new time.
    fn rewrite_time(&self, place: &Path, when: SystemTime) -> Result<(), Error> {
        let key = self.key(place);
        let key = match self.client.head(key)? {
            Some(_) => key.to_owned(),
            None => self.dir_prefix(place),
        };
        let head = self.client.head(&key)?.ok_or(Error::NotFound)?;
        Ok(self
            .client
            .copy(&key, &key, head.record.as_ref(), Some(when))?)
    }

    /// The record of a file, or of a directory's marker (made when it has none).
    fn rewrite_record(&self, key: &str, meta: &Meta) -> Result<(), Error> {
        if let Some(head) = self.client.head(key)? {
            return Ok(self
                .client
                .copy(key, key, Some(meta), Some(head.modified))?);
        }
        let marker = format!("{key}/");
        match self.client.head(&marker)? {
            Some(head) => {
                Ok(self
                    .client
                    .copy(&marker, &marker, Some(meta), Some(head.modified))?)
            }
            None => {
                self.client.put(&marker, b"", Some(meta), None)?;
                Ok(())
            }
        }
    }

    fn virt_key(&self, virt: &str) -> String {
        format!("{}{}", self.prefix, virt.trim_start_matches('/'))
    }

    /// Every key under `prefix` (no folding), at most `MAX_WALK`.
    fn walk(&self, prefix: &str) -> Result<Vec<(String, u64)>, Error> {
        let mut keys = Vec::new();
        let mut token = None;
        loop {
            let page = self.client.list(prefix, false, PAGE, token.as_deref())?;
            keys.extend(
                page.objects
                    .into_iter()
                    .filter(|o| o.key.starts_with(prefix))
                    .map(|o| (o.key, o.size)),
            );
            if keys.len() > MAX_WALK {
                return Err(Error::Io(io::Error::other(format!(
                    "more than {MAX_WALK} objects under {prefix}"
                ))));
            }
            match page.next {
                Some(next) => token = Some(next),
                None => return Ok(keys),
            }
        }
    }

    /// The records of every object under `prefix`, markers included.
    fn records_under(&self, prefix: &str) -> Result<Vec<(String, u64, Option<Meta>)>, Error> {
        let mut out = Vec::new();
        for (key, len) in self.walk(prefix)? {
            if let Some(head) = self.client.head(&key)? {
                out.push((key, len, head.record));
            }
        }
        Ok(out)
    }
}

fn unique_of(key: &str) -> (u64, u64) {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut h);
    (0, h.finish())
}

fn dir_stat(key: &str, modified: SystemTime) -> Stat {
    Stat {
        is_dir: true,
        len: 0,
        modified,
        unique: unique_of(key),
    }
}

impl Backend for ObjectStore {
    fn locate(&self, virt: &VirtualPath) -> Result<Located, Error> {
        // SECURITY: the server's own objects are no one's files, not even an admin's.
        if virt.top_dir() == Some(RESERVED_TOP) {
            return Err(Error::NotFound);
        }
        Ok(Located {
            virt: virt.clone(),
            place: self.place_of(virt),
            link_target: None,
        })
    }

    fn stat(&self, place: &Path) -> Result<Stat, Error> {
        if self.is_root(place) {
            return Ok(dir_stat(&self.prefix, UNIX_EPOCH));
        }
        let key = self.key(place);
        if let Some(head) = self.head(key)? {
            return Ok(Stat {
                is_dir: false,
                len: head.len,
                modified: head.modified,
                unique: unique_of(key),
            });
        }
        let marker = self.dir_prefix(place);
        match self.dir(&marker)? {
            Some(dir) => Ok(dir_stat(&marker, dir.modified)),
            None => Err(Error::NotFound),
        }
    }

    /// Asks the store afresh whether a file has the name (publishing checks this); a
    /// directory there is judged from this node's last second.
    fn exists(&self, place: &Path) -> bool {
        if self.is_root(place) {
            return true;
        }
        let fresh = self.head_fresh(self.key(place));
        !matches!(fresh, Ok(None)) || !matches!(self.dir(&self.dir_prefix(place)), Ok(None))
    }

    fn entries(
        &self,
        place: &Path,
        _virt: &VirtualPath,
        limit: usize,
    ) -> Result<Vec<Entry>, Error> {
        let prefix = self.dir_prefix(place);
        let at_root = self.is_root(place);
        let mut out = Vec::new();
        let mut token = None;
        while out.len() < limit {
            let page = self.client.list(&prefix, true, PAGE, token.as_deref())?;
            for dir in page.prefixes {
                // SECURITY: a store answering with keys outside the prefix gets them ignored.
                let Some(name) = dir.strip_prefix(prefix.as_str()) else {
                    continue;
                };
                let name = name.trim_end_matches('/').to_owned();
                if name.is_empty() || (at_root && name == RESERVED_TOP) {
                    continue;
                }
                // Only a directory with its marker is one (see `dir`).
                let Some(head) = self.client.head(&dir)? else {
                    continue;
                };
                out.push(Entry {
                    name,
                    is_link: false,
                    stat: Some(dir_stat(&dir, head.modified)),
                    record: Some(head.record),
                });
            }
            for listed in page.objects {
                let key = listed.key;
                let Some(name) = key.strip_prefix(prefix.as_str()) else {
                    continue;
                };
                if name.is_empty() || name.contains('/') {
                    continue;
                }
                let Some(head) = self.client.head(&key)? else {
                    continue;
                };
                out.push(Entry {
                    name: name.to_owned(),
                    is_link: false,
                    stat: Some(Stat {
                        is_dir: false,
                        len: head.len,
                        modified: head.modified,
                        unique: unique_of(&key),
                    }),
                    record: Some(head.record),
                });
            }
            match page.next {
                Some(next) => token = Some(next),
                None => break,
            }
        }
        out.truncate(limit);
        Ok(out)
    }

    fn top_dir_exists(&self, name: &str) -> bool {
        let mut token = None;
        for _ in 0..MAX_WALK / PAGE {
            let Ok(page) = self.client.list(&self.prefix, true, PAGE, token.as_deref()) else {
                return true;
            };
            if page.prefixes.iter().any(|p| {
                p.strip_prefix(self.prefix.as_str())
                    .is_some_and(|p| p.trim_end_matches('/').eq_ignore_ascii_case(name))
            }) {
                return true;
            }
            match page.next {
                Some(next) => token = Some(next),
                None => return false,
            }
        }
        true
    }

    fn open_read(&self, place: &Path, offset: u64) -> Result<(Reader, u64), Error> {
        let stat = self.stat(place)?;
        if stat.is_dir() {
            return Err(Error::NotAFile);
        }
        if offset >= stat.len() {
            return Ok((Reader::Stream(Box::new(io::empty())), stat.len()));
        }
        let body = self.client.get(self.key(place), offset)?;
        Ok((Reader::Stream(body), stat.len()))
    }

    fn begin_upload(
        &self,
        place: &Path,
        mode: UploadMode,
        existing: Option<u64>,
        record: UploadRecord,
    ) -> Result<Box<dyn Sink>, Error> {
        let parent = self.parent_marker(place);
        self.parent_exists(parent.as_deref())?;
        let carried = record.new.map(|(_, meta)| meta).or(record.kept);
        let sink = ObjectSink::begin(
            (Arc::clone(&self.client), Arc::clone(&self.recent), parent),
            self.key(place).to_owned(),
            mode,
            existing,
            carried,
        )?;
        Ok(Box::new(sink))
    }

    fn make_dir(&self, place: &Path, _virt: &str, meta: Meta) -> Result<(), Error> {
        self.recent.forget(self.key(place));
        self.parent_exists(self.parent_marker(place).as_deref())?;
        if self.stat(place).is_ok() {
            return Err(Error::AlreadyExists);
        }
        let marker = self.dir_prefix(place);
        self.client.put(&marker, b"", Some(&meta), None)?;
        self.recent.forget(&marker);
        Ok(())
    }

    fn remove_dir(&self, place: &Path, _virt: &str) -> Result<(), Error> {
        let marker = self.dir_prefix(place);
        // A listing can still show an object deleted a moment ago: each one it names must
        // still answer a HEAD to count.
        let page = self.client.list(&marker, false, 16, None)?;
        for listed in page.objects.iter().filter(|o| o.key != marker) {
            if page.next.is_some() || self.client.head(&listed.key)?.is_some() {
                return Err(Error::NotEmpty);
            }
        }
        self.client.delete(&marker)?;
        self.recent.forget(&marker);
        Ok(())
    }

    fn remove_file(&self, place: &Path, _virt: &str) -> Result<(), Error> {
        self.client.delete(self.key(place))?;
        self.recent.forget(self.key(place));
        Ok(())
    }

    /// A file: one copy (record and time kept) and a delete. A directory: every object
    /// under it copied, then the originals deleted; a crash in between leaves both copies,
    /// never neither.
    fn rename(&self, from: (&Path, &str), to: (&Path, &str)) -> Result<(), Error> {
        let (from_key, to_key) = (self.key(from.0), self.key(to.0));
        self.recent.forget_all();
        if let Some(head) = self.client.head(from_key)? {
            self.client
                .copy(from_key, to_key, head.record.as_ref(), Some(head.modified))?;
            self.client.delete(from_key)?;
            self.recent.forget_all();
            return Ok(());
        }
        let (from_prefix, to_prefix) = (self.dir_prefix(from.0), self.dir_prefix(to.0));
        let objects = self.walk(&from_prefix)?;
        if objects.is_empty() {
            return Err(Error::NotFound);
        }
        for (key, _) in &objects {
            let Some(rest) = key.strip_prefix(from_prefix.as_str()) else {
                continue;
            };
            let target = format!("{to_prefix}{rest}");
            let head = self.client.head(key)?;
            let record = head.as_ref().and_then(|h| h.record.clone());
            let modified = head.map(|h| h.modified);
            self.client.copy(key, &target, record.as_ref(), modified)?;
        }
        for (key, _) in &objects {
            self.client.delete(key)?;
        }
        self.recent.forget_all();
        Ok(())
    }

    fn set_modified(&self, place: &Path, when: SystemTime) -> Result<(), Error> {
        let done = self.rewrite_time(place, when);
        self.recent.forget(self.key(place));
        done
    }

    fn record(&self, virt: &str) -> Result<Option<Meta>, Error> {
        let key = self.virt_key(virt);
        if key == self.prefix {
            return Ok(None);
        }
        if let Some(head) = self.head(&key)? {
            return Ok(head.record);
        }
        Ok(self.dir(&format!("{key}/"))?.and_then(|d| d.record))
    }

    fn dir_record(&self, virt: &str) -> Result<Option<Meta>, Error> {
        let key = self.virt_key(virt);
        if key == self.prefix {
            return Ok(None);
        }
        Ok(self.dir(&format!("{key}/"))?.and_then(|d| d.record))
    }

    fn set_record(&self, virt: &str, meta: Meta) -> Result<(), Error> {
        let key = self.virt_key(virt);
        let done = self.rewrite_record(&key, &meta);
        self.recent.forget(&key);
        done
    }

    fn count_owned(&self, owner: &str) -> Result<(u64, u64), Error> {
        let records = self.records_under(&self.prefix)?;
        Ok(records
            .iter()
            .filter(|(key, _, record)| {
                !key.ends_with('/') && record.as_ref().is_some_and(|m| m.owner == owner)
            })
            .fold((0, 0), |(bytes, files), (_, len, _)| {
                (bytes + len, files + 1)
            }))
    }

    fn subtree_owned_by(&self, virt: &str, owner: &str) -> bool {
        let prefix = format!("{}/", self.virt_key(virt));
        self.records_under(&prefix).is_ok_and(|records| {
            records
                .iter()
                .filter(|(key, _, _)| *key != prefix)
                .all(|(_, _, record)| record.as_ref().is_none_or(|m| m.owner == owner))
        })
    }

    fn disown(&self, owner: &str, seq: Option<u64>) -> Result<(), Error> {
        self.recent.forget_all();
        for (key, _, record) in self.records_under(&self.prefix)? {
            if let Some(meta) = record
                && meta.owner == owner
            {
                let heir = Meta::new(tombstone(owner), meta.public);
                let modified = self.client.head(&key)?.map(|h| h.modified);
                self.client.copy(&key, &key, Some(&heir), modified)?;
            }
        }
        if let Some(seq) = seq {
            let applied = self
                .deletions_applied
                .fetch_max(seq, Ordering::SeqCst)
                .max(seq);
            // Once applied, a deletion is never applied again: a later account of the name
            // keeps its files across restarts.
            std::fs::write(&self.applied_file, format!("{applied}\n"))?;
        }
        Ok(())
    }

    fn deletions_applied(&self) -> u64 {
        self.deletions_applied.load(Ordering::SeqCst)
    }
}
