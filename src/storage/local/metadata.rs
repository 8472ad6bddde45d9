//! The local back-end's ownership records: an in-memory map from namespace path to
//! owner/visibility, made durable by an append-only JSON-lines journal (`data/metadata.jsonl`)
//! that is replayed and compacted on start. Each change appends one line: O(1) per upload.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError, RwLock};

use serde::{Deserialize, Serialize};

use crate::storage::record::{Meta, tombstone};

/// One journal line.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
enum Record {
    Set {
        path: String,
        owner: String,
        public: bool,
    },
    Del {
        path: String,
    },
    Mv {
        from: String,
        to: String,
    },
    /// The account `owner` was deleted: its entries pass to the tombstone owner `~name`.
    /// `seq` is the deletion's line in `deleted-accounts.txt`, when it came from there.
    Disown {
        owner: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        seq: Option<u64>,
    },
    /// Written first by compaction: the deletions applied so far (the `seq` of the last one).
    Deletions {
        applied: u64,
    },
}

pub struct MetaStore {
    map: RwLock<BTreeMap<String, Meta>>,
    /// Serialises writers so journal order equals apply order; readers never wait on it.
    journal: Mutex<Journal>,
    /// A second handle on the journal for fsync outside the journal lock.
    sync_handle: File,
    fsync: bool,
    /// Sequence number of the last account deletion applied (see `Record::Disown`).
    deletions_applied: AtomicU64,
}

/// The open journal and whether a failed write may have left a partial line at its end.
struct Journal {
    file: File,
    torn: bool,
}

impl std::fmt::Debug for MetaStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetaStore")
            .field("fsync", &self.fsync)
            .finish_non_exhaustive()
    }
}

impl MetaStore {
    /// Replays `journal` (a torn last line from a crash is skipped), drops records whose
    /// entry no longer exists under `storage_root`, rewrites the journal compacted
    /// (temp, fsync, rename), and opens it for appending.
    pub fn open(
        journal: &Path,
        storage_root: &Path,
        fsync: bool,
        is_account: &dyn Fn(&str) -> bool,
    ) -> io::Result<MetaStore> {
        let (mut map, deletions_applied) = replay(journal)?;
        map.retain(|path, _| fs::symlink_metadata(real_path(storage_root, path)).is_ok());
        // Accounts deleted while the server was down (by hand or by `ferroftp user del`).
        for meta in map.values_mut() {
            if !meta.owner.starts_with('~') && !is_account(&meta.owner) {
                meta.owner = tombstone(&meta.owner);
            }
        }
        // SECURITY of service: a full disk must not keep the server from starting (and
        // serving downloads); the uncompacted journal replays to the same state next time.
        if let Err(e) = compact(journal, &map, deletions_applied) {
            if !is_disk_full(&e) {
                return Err(e);
            }
            log::warn!(
                "disk full: {} not compacted; serving downloads, uploads answer 452 until space is freed",
                journal.display()
            );
        }
        let file = OpenOptions::new().create(true).append(true).open(journal)?;
        let sync_handle = file.try_clone()?;
        Ok(MetaStore {
            map: RwLock::new(map),
            journal: Mutex::new(Journal { file, torn: false }),
            sync_handle,
            deletions_applied: AtomicU64::new(deletions_applied),
            fsync,
        })
    }

    pub fn get(&self, path: &str) -> Option<Meta> {
        self.map
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(path)
            .cloned()
    }

    pub fn set(&self, path: &str, meta: Meta) -> io::Result<()> {
        let record = Record::Set {
            path: path.to_owned(),
            owner: meta.owner.clone(),
            public: meta.public,
        };
        self.append(&record, |map| {
            map.insert(path.to_owned(), meta);
        })
    }

    /// Makes every record appended so far durable (when fsync is on). The journal lock is not
    /// held meanwhile: other writers go on appending.
    fn sync(&self) -> io::Result<()> {
        if self.fsync {
            self.sync_handle.sync_data()?;
        }
        Ok(())
    }

    /// Forgets `path` and everything below it.
    pub fn remove(&self, path: &str) -> io::Result<()> {
        self.append(
            &Record::Del {
                path: path.to_owned(),
            },
            |map| remove_tree(map, path),
        )
    }

    /// Moves the record of `from` and of everything below it to `to`.
    pub fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        self.append(
            &Record::Mv {
                from: from.to_owned(),
                to: to.to_owned(),
            },
            |map| move_tree(map, from, to),
        )
    }

    /// The paths of every entry `owner` owns (files and directories), for a first count.
    pub fn owned_by(&self, owner: &str) -> Vec<String> {
        let map = self.map.read().unwrap_or_else(PoisonError::into_inner);
        map.iter()
            .filter(|(_, m)| m.owner == owner)
            .map(|(path, _)| path.clone())
            .collect()
    }

    /// True if every record strictly below `path` is owned by `owner`.
    pub fn subtree_owned_by(&self, path: &str, owner: &str) -> bool {
        let map = self.map.read().unwrap_or_else(PoisonError::into_inner);
        let prefix = format!("{path}/");
        map.range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .all(|(_, m)| m.owner == owner)
    }

    /// Hands every entry of a deleted account to its tombstone owner; `seq` numbers a
    /// deletion from `deleted-accounts.txt`.
    pub fn disown(&self, owner: &str, seq: Option<u64>) -> io::Result<()> {
        self.append(
            &Record::Disown {
                owner: owner.to_owned(),
                seq,
            },
            |map| disown_all(map, owner),
        )?;
        if let Some(seq) = seq {
            self.deletions_applied.fetch_max(seq, Ordering::SeqCst);
        }
        Ok(())
    }

    /// The `seq` of the last logged account deletion this journal has applied.
    pub fn deletions_applied(&self) -> u64 {
        self.deletions_applied.load(Ordering::SeqCst)
    }

    /// Appends `record`, applies it in memory, then makes it durable without holding the
    /// journal lock (other writers go on appending meanwhile).
    fn append(
        &self,
        record: &Record,
        apply: impl FnOnce(&mut BTreeMap<String, Meta>),
    ) -> io::Result<()> {
        let mut line = serde_json::to_vec(record).map_err(io::Error::other)?;
        line.push(b'\n');
        let mut journal = self.journal.lock().unwrap_or_else(PoisonError::into_inner);
        // After a failed write (disk full), start on a fresh line: the next record must not
        // be glued to a torn one and lost at replay.
        if std::mem::take(&mut journal.torn) {
            line.insert(0, b'\n');
        }
        if let Err(e) = journal.file.write_all(&line) {
            journal.torn = true;
            return Err(e);
        }
        // Applied under the journal lock: the map changes in journal order.
        apply(&mut self.map.write().unwrap_or_else(PoisonError::into_inner));
        drop(journal);
        self.sync()
    }
}

pub fn real_path(root: &Path, virt: &str) -> PathBuf {
    let mut p = root.to_path_buf();
    for c in virt.split('/').filter(|c| !c.is_empty()) {
        p.push(c);
    }
    p
}

/// The map a journal describes, and the last account deletion it applied.
fn replay(journal: &Path) -> io::Result<(BTreeMap<String, Meta>, u64)> {
    let mut map = BTreeMap::new();
    let mut applied = 0;
    let file = match File::open(journal) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((map, applied)),
        Err(e) => return Err(e),
    };
    for (n, line) in BufReader::new(file).split(b'\n').enumerate() {
        let line = line?;
        if line.is_empty() {
            continue;
        }
        match serde_json::from_slice::<Record>(&line) {
            Ok(Record::Set {
                path,
                owner,
                public,
            }) => {
                map.insert(path, Meta { owner, public });
            }
            Ok(Record::Del { path }) => remove_tree(&mut map, &path),
            Ok(Record::Mv { from, to }) => move_tree(&mut map, &from, &to),
            Ok(Record::Disown { owner, seq }) => {
                disown_all(&mut map, &owner);
                applied = applied.max(seq.unwrap_or(0));
            }
            Ok(Record::Deletions { applied: a }) => applied = applied.max(a),
            // A crash mid-append leaves a torn last line; nothing after it was acknowledged.
            Err(e) => log::warn!(
                "{}:{}: skipped unreadable record: {e}",
                journal.display(),
                n + 1
            ),
        }
    }
    Ok((map, applied))
}

fn is_disk_full(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded
    )
}

/// Rewrites the journal as one `Set` per entry (temp, fsync, rename). On failure the temp
/// file is removed and the old journal stays.
fn compact(journal: &Path, map: &BTreeMap<String, Meta>, applied: u64) -> io::Result<()> {
    let tmp = journal.with_extension("jsonl.tmp");
    let written = write_compacted(&tmp, map, applied);
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written?;
    fs::rename(&tmp, journal)?;
    if let Some(dir) = journal.parent() {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

fn write_compacted(tmp: &Path, map: &BTreeMap<String, Meta>, applied: u64) -> io::Result<()> {
    {
        let mut out = io::BufWriter::new(File::create(tmp)?);
        serde_json::to_writer(&mut out, &Record::Deletions { applied })
            .map_err(io::Error::other)?;
        out.write_all(b"\n")?;
        for (path, meta) in map {
            let record = Record::Set {
                path: path.clone(),
                owner: meta.owner.clone(),
                public: meta.public,
            };
            serde_json::to_writer(&mut out, &record).map_err(io::Error::other)?;
            out.write_all(b"\n")?;
        }
        out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    }
    Ok(())
}

/// The keys strictly below `path` start with `path/`.
fn subtree_keys(map: &BTreeMap<String, Meta>, path: &str) -> Vec<String> {
    let prefix = format!("{path}/");
    map.range(prefix.clone()..)
        .take_while(|(k, _)| k.starts_with(&prefix))
        .map(|(k, _)| k.clone())
        .collect()
}

fn disown_all(map: &mut BTreeMap<String, Meta>, owner: &str) {
    for meta in map.values_mut().filter(|m| m.owner == owner) {
        meta.owner = tombstone(owner);
    }
}

fn remove_tree(map: &mut BTreeMap<String, Meta>, path: &str) {
    map.remove(path);
    for k in subtree_keys(map, path) {
        map.remove(&k);
    }
}

fn move_tree(map: &mut BTreeMap<String, Meta>, from: &str, to: &str) {
    let mut moved = Vec::new();
    if let Some(m) = map.remove(from) {
        moved.push((to.to_owned(), m));
    }
    for k in subtree_keys(map, from) {
        if let Some(m) = map.remove(&k) {
            moved.push((format!("{to}{}", &k[from.len()..]), m));
        }
    }
    // The target's old records (if any) are replaced by the moved ones.
    remove_tree(map, to);
    map.extend(moved);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deleted_accounts_leave_tombstones() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("storage");
        fs::create_dir_all(root.join("Public")).unwrap();
        fs::write(root.join("Public/a"), b"x").unwrap();
        fs::write(root.join("Public/b"), b"x").unwrap();
        let journal = dir.path().join("metadata.jsonl");
        let store = MetaStore::open(&journal, &root, false, &|_: &str| true).unwrap();
        store.set("/Public/a", Meta::new("carol", false)).unwrap();
        store.set("/Public/b", Meta::new("dave", false)).unwrap();
        store.disown("carol", None).unwrap();
        assert_eq!(store.get("/Public/a"), Some(Meta::new("~carol", false)));
        drop(store);
        let store = MetaStore::open(&journal, &root, false, &|name: &str| name != "dave").unwrap();
        assert_eq!(
            store.get("/Public/a"),
            Some(Meta::new("~carol", false)),
            "replayed"
        );
        assert_eq!(
            store.get("/Public/b"),
            Some(Meta::new("~dave", false)),
            "deleted while down"
        );
    }

    #[test]
    fn survives_reopen_and_follows_tree_renames() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("storage");
        fs::create_dir_all(root.join("alice/d/sub")).unwrap();
        fs::write(root.join("alice/d/sub/f"), b"x").unwrap();
        fs::write(root.join("alice/g"), b"x").unwrap();
        let journal = dir.path().join("metadata.jsonl");
        let store = MetaStore::open(&journal, &root, true, &|_: &str| true).unwrap();
        store.set("/alice/d", Meta::new("alice", false)).unwrap();
        store
            .set("/alice/d/sub/f", Meta::new("alice", true))
            .unwrap();
        store.set("/alice/dx", Meta::new("bob", true)).unwrap();
        store.set("/alice/g", Meta::new("alice", false)).unwrap();
        store.rename("/alice/d", "/alice/e").unwrap();
        fs::rename(root.join("alice/d"), root.join("alice/e")).unwrap();
        assert_eq!(store.get("/alice/e/sub/f"), Some(Meta::new("alice", true)));
        assert_eq!(store.get("/alice/d/sub/f"), None);
        assert_eq!(
            store.get("/alice/dx"),
            Some(Meta::new("bob", true)),
            "sibling with a common prefix untouched"
        );
        store.remove("/alice/g").unwrap();
        drop(store);
        // A torn line at the end (crash mid-append) is skipped.
        let mut f = OpenOptions::new().append(true).open(&journal).unwrap();
        f.write_all(b"{\"op\":\"set\",\"pa").unwrap();
        drop(f);
        let store = MetaStore::open(&journal, &root, true, &|_: &str| true).unwrap();
        assert_eq!(store.get("/alice/e"), Some(Meta::new("alice", false)));
        assert_eq!(store.get("/alice/e/sub/f"), Some(Meta::new("alice", true)));
        assert_eq!(store.get("/alice/g"), None);
        assert_eq!(
            store.get("/alice/dx"),
            None,
            "compaction dropped a record with no file"
        );
        let text = fs::read_to_string(&journal).unwrap();
        assert!(
            text.starts_with("{\"op\":\"deletions\",\"applied\":0}\n"),
            "{text}"
        );
        assert_eq!(
            text.lines().count(),
            3,
            "compacted: the header and live records only"
        );
    }
}
