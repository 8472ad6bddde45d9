//! The local back-end: `server_storage/` on this machine's file system, with the ownership
//! records in a journal (`metadata.rs`), uploads through temp files (`upload.rs`), and the
//! jail's file-system half: symlinks placed on disk resolved, and refused when they lead out.

pub mod metadata;
pub mod upload;

use std::fs::{self, File};
use std::io::{self, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use super::backend::{Backend, Entry, Located, Reader, Sink, Stat, UploadRecord};
use super::{Error, Meta, PUBLIC_DIR, UploadMode, VirtualPath};
use metadata::MetaStore;
use upload::FileSink;

/// Creates `root/<name>` for a new account without opening the store (the CLI uses this while
/// a server may own the journal). The home gets no owner record: who may use it is the
/// account's grant in `directories.txt`.
pub fn create_home_dir(root: &Path, name: &str) -> Result<(), Error> {
    let virt = VirtualPath::root().join(name)?;
    if !virt.is_top_level() {
        return Err(Error::Refused("not a top-level name"));
    }
    fs::create_dir_all(root.join(name))?;
    Ok(())
}

#[derive(Debug)]
pub struct Local {
    root: PathBuf,
    fsync: bool,
    records: Arc<MetaStore>,
}

impl Local {
    /// Opens (creating) `root` and its `Public/` and replays the ownership journal; stale
    /// upload temp files older than now are swept in the background.
    /// `is_account` says whether an owner name is a current account (others get tombstones).
    pub fn open(
        root: &Path,
        journal: &Path,
        fsync: bool,
        is_account: &dyn Fn(&str) -> bool,
    ) -> io::Result<Local> {
        fs::create_dir_all(root.join(PUBLIC_DIR))?;
        let root = root.canonicalize()?;
        let records = MetaStore::open(journal, &root, fsync, is_account)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", journal.display())))?;
        let sweep_root = root.clone();
        let started = SystemTime::now();
        std::thread::Builder::new()
            .name("ferroftp-sweep".into())
            .spawn(move || sweep_stale_temps(&sweep_root, started))?;
        Ok(Local {
            root,
            fsync,
            records: Arc::new(records),
        })
    }

    /// `path` with its deepest existing ancestor canonicalised; refused unless inside the root.
    fn canonical_inside(&self, path: &Path) -> Result<PathBuf, Error> {
        if self.plain_below_root(path)? {
            return Ok(path.to_path_buf());
        }
        let mut probe = path;
        let mut missing = Vec::new();
        loop {
            match fs::symlink_metadata(probe) {
                Ok(_) => break,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    let (Some(name), Some(parent)) = (probe.file_name(), probe.parent()) else {
                        return Err(Error::Refused("no existing ancestor"));
                    };
                    missing.push(name);
                    probe = parent;
                }
                Err(e) => return Err(e.into()),
            }
        }
        let mut canon = probe
            .canonicalize()
            .map_err(|_| Error::Refused("dangling symlink"))?;
        if !canon.starts_with(&self.root) {
            return Err(Error::Refused("symlink out of the storage root"));
        }
        canon.extend(missing.iter().rev());
        Ok(canon)
    }

    /// True when `path` is the root plus plain names, none of them a symlink on disk (the
    /// common case): then it is canonical as it stands, since the root is. One `lstat` per
    /// name below the root, where `canonicalize` would ask about every ancestor of the root
    /// too. Stops at the first missing name (the rest cannot be links either).
    fn plain_below_root(&self, path: &Path) -> Result<bool, Error> {
        let Ok(rel) = path.strip_prefix(&self.root) else {
            return Ok(false);
        };
        let mut probe = self.root.clone();
        for c in rel.components() {
            let std::path::Component::Normal(name) = c else {
                return Ok(false);
            };
            probe.push(name);
            match fs::symlink_metadata(&probe) {
                Ok(m) if m.file_type().is_symlink() => return Ok(false),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(true),
                Err(e) => return Err(e.into()),
            }
        }
        Ok(true)
    }

    /// The namespace path of a real path inside the root.
    fn virtual_of(&self, real: &Path) -> Result<VirtualPath, Error> {
        let rel = real
            .strip_prefix(&self.root)
            .map_err(|_| Error::Refused("symlink out of the storage root"))?;
        let rel = rel.to_str().ok_or(Error::Refused("name is not UTF-8"))?;
        VirtualPath::root().join(rel)
    }
}

fn stat_of(meta: &fs::Metadata) -> Stat {
    Stat {
        is_dir: meta.is_dir(),
        len: meta.len(),
        modified: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
        unique: (meta.dev(), meta.ino()),
    }
}

impl Backend for Local {
    /// SECURITY: symlinks placed on disk must not lead out of the jail: the deepest existing
    /// ancestor of the path must canonicalise inside the root, a dangling symlink is refused
    /// (creating through it would write wherever it points), and so is a final symlink that
    /// leads out. A final symlink to a directory is followed; one to a file stays the entry
    /// (DELE removes the link) and names its target for judging access.
    fn locate(&self, virt: &VirtualPath) -> Result<Located, Error> {
        let Some(name) = virt.file_name() else {
            return Ok(Located {
                virt: VirtualPath::root(),
                place: self.root.clone(),
                link_target: None,
            });
        };
        let mut real = self.root.clone();
        for c in virt.parent().components() {
            real.push(c);
        }
        let mut real = self.canonical_inside(&real)?;
        real.push(name);
        let mut link_target = None;
        match fs::symlink_metadata(&real) {
            Ok(m) if m.file_type().is_symlink() => {
                let target = self.canonical_inside(&real)?;
                if fs::metadata(&target).is_ok_and(|t| t.is_dir()) {
                    real = target;
                } else {
                    link_target = Some(self.virtual_of(&target)?);
                }
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
        Ok(Located {
            virt: self.virtual_of(&real)?,
            place: real,
            link_target,
        })
    }

    fn stat(&self, place: &Path) -> Result<Stat, Error> {
        Ok(stat_of(&fs::metadata(place)?))
    }

    fn exists(&self, place: &Path) -> bool {
        fs::symlink_metadata(place).is_ok()
    }

    fn entries(
        &self,
        place: &Path,
        _virt: &VirtualPath,
        limit: usize,
    ) -> Result<Vec<Entry>, Error> {
        let mut out = Vec::new();
        for entry in fs::read_dir(place)? {
            if out.len() >= limit {
                break;
            }
            let entry = entry?;
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            out.push(Entry {
                name,
                is_link: entry.file_type().is_ok_and(|t| t.is_symlink()),
                stat: fs::metadata(entry.path()).ok().map(|m| stat_of(&m)),
                record: None,
            });
        }
        Ok(out)
    }

    fn top_dir_exists(&self, name: &str) -> bool {
        let Ok(entries) = fs::read_dir(&self.root) else {
            return true;
        };
        entries
            .flatten()
            .any(|e| e.file_name().to_string_lossy().eq_ignore_ascii_case(name))
    }

    fn open_read(&self, place: &Path, offset: u64) -> Result<(Reader, u64), Error> {
        let mut file = File::open(place)?;
        let meta = file.metadata()?;
        if !meta.is_file() {
            return Err(Error::NotAFile);
        }
        if offset > 0 && offset <= meta.len() {
            file.seek(SeekFrom::Start(offset))?;
        }
        Ok((Reader::File(file), meta.len()))
    }

    fn begin_upload(
        &self,
        place: &Path,
        mode: UploadMode,
        existing: Option<u64>,
        _record: UploadRecord,
    ) -> Result<Box<dyn Sink>, Error> {
        let sink = FileSink::begin(
            place.to_path_buf(),
            mode,
            self.fsync,
            existing,
            Arc::clone(&self.records),
        )?;
        Ok(Box::new(sink))
    }

    fn make_dir(&self, place: &Path, virt: &str, meta: Meta) -> Result<(), Error> {
        fs::create_dir(place)?;
        self.records.set(virt, meta)?;
        Ok(())
    }

    fn remove_dir(&self, place: &Path, virt: &str) -> Result<(), Error> {
        fs::remove_dir(place)?;
        self.records.remove(virt)?;
        Ok(())
    }

    fn remove_file(&self, place: &Path, virt: &str) -> Result<(), Error> {
        fs::remove_file(place)?;
        self.records.remove(virt)?;
        Ok(())
    }

    fn rename(&self, from: (&Path, &str), to: (&Path, &str)) -> Result<(), Error> {
        fs::rename(from.0, to.0)?;
        self.records.rename(from.1, to.1)?;
        Ok(())
    }

    fn set_modified(&self, place: &Path, when: SystemTime) -> Result<(), Error> {
        File::open(place)?.set_modified(when)?;
        Ok(())
    }

    fn record(&self, virt: &str) -> Result<Option<Meta>, Error> {
        Ok(self.records.get(virt))
    }

    fn set_record(&self, virt: &str, meta: Meta) -> Result<(), Error> {
        Ok(self.records.set(virt, meta)?)
    }

    fn count_owned(&self, owner: &str) -> Result<(u64, u64), Error> {
        let (mut bytes, mut files) = (0u64, 0u64);
        for path in self.records.owned_by(owner) {
            if let Ok(m) = fs::symlink_metadata(metadata::real_path(&self.root, &path))
                && m.is_file()
            {
                bytes += m.len();
                files += 1;
            }
        }
        Ok((bytes, files))
    }

    fn subtree_owned_by(&self, virt: &str, owner: &str) -> bool {
        self.records.subtree_owned_by(virt, owner)
    }

    fn disown(&self, owner: &str, seq: Option<u64>) -> Result<(), Error> {
        Ok(self.records.disown(owner, seq)?)
    }

    fn deletions_applied(&self) -> u64 {
        self.records.deletions_applied()
    }
}

/// Removes upload temp files left by a crash (only ones older than this start).
fn sweep_stale_temps(root: &Path, started: SystemTime) {
    const MAX_DEPTH: usize = 64;
    const MAX_VISITS: usize = 2_000_000;
    let mut stack = vec![(root.to_path_buf(), 0usize)];
    let (mut visits, mut removed) = (0usize, 0usize);
    while let Some((dir, depth)) = stack.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            visits += 1;
            if visits > MAX_VISITS {
                log::warn!("stale upload sweep stopped after {MAX_VISITS} entries");
                return;
            }
            let Ok(ft) = entry.file_type() else { continue };
            let name = entry.file_name();
            if ft.is_dir() && depth < MAX_DEPTH {
                stack.push((entry.path(), depth + 1));
            } else if ft.is_file()
                && name.to_string_lossy().starts_with(upload::TEMP_PREFIX)
                && entry
                    .metadata()
                    .and_then(|m| m.modified())
                    .is_ok_and(|m| m < started)
                && fs::remove_file(entry.path()).is_ok()
            {
                removed += 1;
            }
        }
    }
    if removed > 0 {
        log::info!("removed {removed} stale upload temp file(s)");
    }
}
