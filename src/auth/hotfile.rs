//! `HotFile`: a hand-editable text file of `data/` kept in memory behind an `RwLock`, reloaded
//! when it changes on disk (the last good copy stays when a new version is malformed), and
//! edited as a locked read-modify-write (file lock, fresh read, atomic rewrite) shared safely
//! with `ferroftp user ...` processes. `credentials.txt` and `directories.txt` are each one
//! `Format` over it; the disk mechanics (stamp, lock, atomic write) live here and nowhere else.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::ops::{Deref, DerefMut};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use super::Error;

/// Mode of the lock files: only the server's owner takes them.
const LOCK_MODE: u32 = 0o600;

/// A file modified this recently is re-read even if its stamp looks unchanged: file systems
/// with coarse timestamps can give two quick writes of equal size the same mtime (and a reused
/// inode number), which would otherwise hide the second one.
const RECENT_WRITE_SECS: i64 = 2;

/// What one hot-reloaded file is: its names, its mode, and its text format.
pub(crate) trait Format: Sized {
    /// The file's name in `data/`.
    const FILE: &'static str;
    /// The lock file beside it, held from re-read to rename by every writer.
    const LOCK: &'static str;
    /// The file's mode, exactly, whatever the umask.
    const MODE: u32;
    /// What the log calls the copy kept when a newer version is bad ("accounts").
    const WHAT: &'static str;

    /// The whole text; an error names the line and what is wrong with it.
    fn parse(text: &str) -> Result<Self, Error>;
    fn serialize(&self) -> String;
    /// What a missing file holds.
    fn missing() -> Self;
    /// What an edit of a missing file starts from.
    fn created() -> Self {
        Self::missing()
    }
    /// The text `open` writes when the file is missing; None leaves it to the first edit.
    fn initial_text() -> Option<String> {
        None
    }
}

/// One file of `data/` in memory; see the module comment.
pub(crate) struct HotFile<T> {
    data_dir: PathBuf,
    path: PathBuf,
    lock_path: PathBuf,
    state: RwLock<Loaded<T>>,
    generation: AtomicU64,
    /// Serialises "read the disk, then install" in this process (reload and edits), so an
    /// older read can never be installed over a newer one.
    install: Mutex<()>,
}

/// The last good copy and what the disk looked like when it was read.
struct Loaded<T> {
    file: T,
    stamp: Option<Stamp>,
    /// Text the copy was parsed from; None when the file was missing.
    text: Option<String>,
    /// A newer version found bad (malformed or missing), so it is logged once, not every second.
    rejected: Option<Option<String>>,
}

impl<T> Loaded<T> {
    fn new(file: T, stamp: Option<Stamp>, text: Option<String>) -> Loaded<T> {
        Loaded {
            file,
            stamp,
            text,
            rejected: None,
        }
    }
}

impl<T: Format> HotFile<T> {
    /// Loads `data_dir/T::FILE`, first writing `T::initial_text()` if the file is missing and
    /// the format has one. A malformed file is `T::parse`'s error.
    pub(crate) fn open(data_dir: &Path) -> Result<HotFile<T>, Error> {
        let path = data_dir.join(T::FILE);
        let lock_path = data_dir.join(T::LOCK);
        if let Some(text) = T::initial_text()
            && stamp(&path)?.is_none()
        {
            create::<T>(data_dir, &path, &lock_path, &text)?;
        }
        let (stamp, text, file) = read_disk::<T>(&path)?;
        Ok(HotFile {
            data_dir: data_dir.to_path_buf(),
            path,
            lock_path,
            state: RwLock::new(Loaded::new(file, stamp, text)),
            generation: AtomicU64::new(0),
            install: Mutex::new(()),
        })
    }

    /// The file this copy reads and writes.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The copy in use; hold it only to query, never across I/O or bcrypt.
    pub(crate) fn current(&self) -> Current<'_, T> {
        Current {
            guard: read_guard(&self.state),
        }
    }

    /// Bumped on every reload and edit, so sessions can notice cheaply and query again.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Reloads the file if it changed on disk since the last load; true if it did.
    pub(crate) fn reload_if_changed(&self) -> bool {
        self.check_disk().install()
    }

    /// Reads a newer version from disk, if there is one, to install with `Reload::install`;
    /// the caller may do work of its own first (the install guard is held until then). A
    /// malformed or deleted file is logged once and the last good copy stays in use.
    pub(crate) fn check_disk(&self) -> Reload<'_, T> {
        let installing = self.install_guard();
        Reload {
            hot: self,
            _installing: installing,
            newer: self.newer_version(),
        }
    }

    /// Starts a read-modify-write: takes the file lock and reads the file fresh from disk
    /// (another process may have changed it). A malformed file on disk is refused, not
    /// overwritten: it is someone's hand edit. Dropping the edit unwritten changes nothing.
    pub(crate) fn edit(&self) -> Result<Edit<'_, T>, Error> {
        let installing = self.install_guard();
        fs::create_dir_all(&self.data_dir).map_err(|e| Error::file(&self.data_dir, e))?;
        let lock = FileLock::acquire(&self.lock_path)?;
        let (_, text, file) = read_disk::<T>(&self.path)?;
        Ok(Edit {
            hot: self,
            installing,
            _lock: lock,
            file: if text.is_none() { T::created() } else { file },
        })
    }

    /// Makes readers look again (`generation` moves) though the file did not change.
    pub(crate) fn touch(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Held by reloads and edits; others that must not interleave with them take it too.
    pub(crate) fn install_guard(&self) -> MutexGuard<'_, ()> {
        lock_guard(&self.install)
    }

    fn install(&self, loaded: Loaded<T>) {
        *write_guard(&self.state) = loaded;
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// The newer version to install when the file changed on disk and parses; call with the
    /// install guard held. A bad version is remembered in `rejected`, so it is logged once.
    fn newer_version(&self) -> Option<Loaded<T>> {
        let (path, what) = (&self.path, T::WHAT);
        let stamp = match stamp(path) {
            Ok(stamp) => stamp,
            Err(e) => {
                log::error!("{e}; keeping the {what} loaded before");
                return None;
            }
        };
        if read_guard(&self.state).stamp == stamp && !recently_modified(stamp) {
            return None;
        }
        let text = match read_optional(path) {
            Ok(text) => text,
            Err(e) => {
                log::error!("{e}; keeping the {what} loaded before");
                return None;
            }
        };
        let (unchanged, known_bad) = {
            let state = read_guard(&self.state);
            (state.text == text, state.rejected.as_ref() == Some(&text))
        };
        if unchanged || known_bad {
            let mut state = write_guard(&self.state);
            state.stamp = stamp;
            if unchanged {
                // Back to the good version: a later bad edit is worth logging again.
                state.rejected = None;
            }
            return None;
        }
        let Some(text) = text else {
            log::warn!(
                "{} was removed; keeping the {what} loaded before",
                path.display()
            );
            write_guard(&self.state).rejected = Some(None);
            return None;
        };
        match T::parse(&text) {
            Ok(file) => Some(Loaded::new(file, stamp, Some(text))),
            Err(e) => {
                log::error!("{e}; keeping the {what} loaded before");
                write_guard(&self.state).rejected = Some(Some(text));
                None
            }
        }
    }
}

/// A read guard on the copy in use.
pub(crate) struct Current<'a, T> {
    guard: RwLockReadGuard<'a, Loaded<T>>,
}

impl<T> Deref for Current<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.guard.file
    }
}

/// A newer version read from disk (or none), waiting to be installed.
#[must_use = "a reload does nothing until it is installed"]
pub(crate) struct Reload<'a, T: Format> {
    hot: &'a HotFile<T>,
    _installing: MutexGuard<'a, ()>,
    newer: Option<Loaded<T>>,
}

impl<T: Format> Reload<'_, T> {
    /// Puts the newer version in use; true if there was one.
    pub(crate) fn install(self) -> bool {
        let Some(loaded) = self.newer else {
            return false;
        };
        self.hot.install(loaded);
        log::info!("reloaded {}", self.hot.path.display());
        true
    }
}

/// A locked read-modify-write in progress: change the file through `DerefMut`, then `write`.
pub(crate) struct Edit<'a, T: Format> {
    hot: &'a HotFile<T>,
    installing: MutexGuard<'a, ()>,
    _lock: FileLock,
    file: T,
}

impl<T: Format> Deref for Edit<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.file
    }
}

impl<T: Format> DerefMut for Edit<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.file
    }
}

impl<'a, T: Format> Edit<'a, T> {
    /// Rewrites the file atomically and lets the file lock go; the new copy is put in use by
    /// `Written::install`, after any work the caller must do first.
    pub(crate) fn write(self) -> Result<Written<'a, T>, Error> {
        let Edit {
            hot,
            installing,
            _lock: lock,
            file,
        } = self;
        let text = file.serialize();
        write_atomic(&hot.path, &text, T::MODE)?;
        let stamp = stamp(&hot.path)?;
        drop(lock);
        Ok(Written {
            hot,
            _installing: installing,
            loaded: Loaded::new(file, stamp, Some(text)),
        })
    }
}

/// An edit on disk, not yet in use in memory.
#[must_use = "a written edit is not in use until it is installed"]
pub(crate) struct Written<'a, T: Format> {
    hot: &'a HotFile<T>,
    _installing: MutexGuard<'a, ()>,
    loaded: Loaded<T>,
}

impl<T: Format> Written<'_, T> {
    pub(crate) fn install(self) {
        self.hot.install(self.loaded);
    }
}

/// Writes `text` as the first version of `path`, unless another process got there first.
fn create<T: Format>(data_dir: &Path, path: &Path, lock: &Path, text: &str) -> Result<(), Error> {
    fs::create_dir_all(data_dir).map_err(|e| Error::file(data_dir, e))?;
    let _lock = FileLock::acquire(lock)?;
    if stamp(path)?.is_none() {
        write_atomic(path, text, T::MODE)?;
        log::info!("created {}", path.display());
    }
    Ok(())
}

/// Stamp, text and parsed contents of `path`; a missing file is `T::missing()`.
fn read_disk<T: Format>(path: &Path) -> Result<(Option<Stamp>, Option<String>, T), Error> {
    // Stamp first: if the file changes between the two calls, the next check sees a newer stamp
    // and reads again.
    let stamp = stamp(path)?;
    let text = read_optional(path)?;
    let file = match &text {
        Some(t) => T::parse(t)?,
        None => T::missing(),
    };
    Ok((stamp, text, file))
}

/// What identifies one version of the file on disk: if any part differs, it changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

/// The stamp of `path`, or None if it does not exist.
pub fn stamp(path: &Path) -> Result<Option<Stamp>, Error> {
    match fs::metadata(path) {
        Ok(m) => Ok(Some(Stamp {
            dev: m.dev(),
            ino: m.ino(),
            len: m.len(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        })),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::file(path, e)),
    }
}

fn recently_modified(stamp: Option<Stamp>) -> bool {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    stamp.is_some_and(|s| now.saturating_sub(s.mtime.0) <= RECENT_WRITE_SECS)
}

/// The text of `path`, or None if it does not exist.
fn read_optional(path: &Path) -> Result<Option<String>, Error> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::file(path, e)),
    }
}

/// An exclusive lock on a lock file, held from re-read to rename so that the server and
/// `ferroftp user ...` processes never lose each other's changes. Released on drop (closing
/// the descriptor releases the lock, even if the process dies).
pub(crate) struct FileLock {
    _file: File,
}

impl FileLock {
    /// Blocks until the lock is ours. Holders only read, rewrite and rename one small file.
    pub(crate) fn acquire(path: &Path) -> Result<FileLock, Error> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(LOCK_MODE)
            .open(path)
            .map_err(|e| Error::file(path, e))?;
        file.lock().map_err(|e| Error::file(path, e))?;
        Ok(FileLock { _file: file })
    }
}

/// Distinguishes temp files of threads of one process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Replaces `path` with `contents` atomically: `path.tmp-<pid>-<n>`, fsync, rename, fsync of
/// the directory; the file gets exactly `mode`, whatever the umask. Readers see the old file
/// or the new one, never a mix, and after return the change survives a power cut. Call with
/// the `FileLock` held.
pub fn write_atomic(path: &Path, contents: &str, mode: u32) -> Result<(), Error> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let file_name = path
        .file_name()
        .map_or_else(|| "file".into(), |n| n.to_string_lossy());
    let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let tmp = dir.join(format!("{file_name}.tmp-{}-{n}", std::process::id()));
    let result = write_and_rename(&tmp, path, contents, mode);
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::file(dir, e))
}

fn write_and_rename(tmp: &Path, path: &Path, contents: &str, mode: u32) -> Result<(), Error> {
    // A leftover from a crashed process that had our pid: its content is stale, not ours.
    let _ = fs::remove_file(tmp);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        // Created owner-only, widened below: the temp file is never readable by more than the
        // final one.
        .mode(0o600 & mode)
        .open(tmp)
        .map_err(|e| Error::file(tmp, e))?;
    // The umask can only remove bits; make the mode exact whatever it was.
    file.set_permissions(fs::Permissions::from_mode(mode))
        .and_then(|()| file.write_all(contents.as_bytes()))
        .and_then(|()| file.sync_all())
        .map_err(|e| Error::file(tmp, e))?;
    drop(file);
    fs::rename(tmp, path).map_err(|e| Error::file(path, e))
}

// Loaded copies are only ever replaced whole (or have a field assigned) under the write guard, so
// a panic elsewhere while a guard was held cannot leave one half-updated: poisoning is safe to
// ignore.
fn read_guard<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

fn write_guard<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

/// A mutex guard whatever a panicking holder left: the auth mutexes guard plain counters and
/// maps that every holder leaves consistent.
pub(crate) fn lock_guard<T>(lock: &Mutex<T>) -> MutexGuard<'_, T> {
    lock.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Files `write_atomic` left behind in `dir` (there must be none after any edit).
#[cfg(test)]
pub(crate) fn temp_leftovers(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|n| n.contains(".tmp-"))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file of non-empty lines; a line `bad` is malformed.
    #[derive(Debug, Default, PartialEq)]
    struct Lines(Vec<String>);

    impl Format for Lines {
        const FILE: &'static str = "lines.txt";
        const LOCK: &'static str = "lines.lock";
        const MODE: u32 = 0o640;
        const WHAT: &'static str = "lines";

        fn parse(text: &str) -> Result<Lines, Error> {
            let lines: Vec<String> = text.lines().map(str::to_string).collect();
            match lines.iter().position(|l| l == "bad") {
                Some(i) => Err(Error::Malformed {
                    line: i + 1,
                    what: "bad".into(),
                }),
                None => Ok(Lines(lines)),
            }
        }

        fn serialize(&self) -> String {
            self.0.iter().map(|l| format!("{l}\n")).collect()
        }

        fn missing() -> Lines {
            Lines::default()
        }

        fn initial_text() -> Option<String> {
            Some("first\n".into())
        }
    }

    fn names_in(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn open_writes_the_initial_text_with_the_exact_mode() {
        let dir = tempfile::tempdir().unwrap();
        let hot = HotFile::<Lines>::open(dir.path()).unwrap();
        assert_eq!(*hot.current(), Lines(vec!["first".into()]));
        let path = dir.path().join("lines.txt");
        assert_eq!(fs::read_to_string(&path).unwrap(), "first\n");
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
        assert_eq!(names_in(dir.path()), ["lines.lock", "lines.txt"]);
    }

    #[test]
    fn an_edit_rewrites_atomically_and_installs_only_when_asked() {
        let dir = tempfile::tempdir().unwrap();
        let hot = HotFile::<Lines>::open(dir.path()).unwrap();
        let mut edit = hot.edit().unwrap();
        edit.0.push("second".into());
        let written = edit.write().unwrap();
        let path = dir.path().join("lines.txt");
        assert_eq!(fs::read_to_string(&path).unwrap(), "first\nsecond\n");
        assert_eq!(hot.generation(), 0, "not installed yet");
        written.install();
        assert_eq!(hot.generation(), 1);
        assert_eq!(hot.current().0, ["first", "second"]);
        // An edit dropped unwritten changes nothing, and the lock is free again.
        hot.edit().unwrap().0.clear();
        assert_eq!(fs::read_to_string(&path).unwrap(), "first\nsecond\n");
        assert_eq!(
            names_in(dir.path()),
            ["lines.lock", "lines.txt"],
            "no temp file left"
        );
    }

    #[test]
    fn reload_takes_good_versions_and_keeps_the_last_good_one() {
        let dir = tempfile::tempdir().unwrap();
        let hot = HotFile::<Lines>::open(dir.path()).unwrap();
        let path = dir.path().join("lines.txt");
        assert!(!hot.reload_if_changed(), "nothing changed");
        fs::write(&path, "a\nb\n").unwrap();
        assert!(hot.reload_if_changed());
        assert_eq!(hot.current().0, ["a", "b"]);
        fs::write(&path, "a\nbad\n").unwrap();
        assert!(!hot.reload_if_changed());
        assert_eq!(hot.current().0, ["a", "b"], "last good copy kept");
        fs::remove_file(&path).unwrap();
        assert!(!hot.reload_if_changed());
        assert_eq!(hot.current().0, ["a", "b"], "a deleted file keeps it too");
        // An edit reads the disk, not the copy: a missing file starts from `created()`.
        let mut edit = hot.edit().unwrap();
        assert!(edit.0.is_empty());
        edit.0.push("c".into());
        edit.write().unwrap().install();
        assert_eq!(hot.current().0, ["c"]);
    }

    #[test]
    fn an_edit_refuses_a_malformed_file_and_leaves_it_alone() {
        let dir = tempfile::tempdir().unwrap();
        let hot = HotFile::<Lines>::open(dir.path()).unwrap();
        let path = dir.path().join("lines.txt");
        fs::write(&path, "x\nbad\n").unwrap();
        assert!(matches!(hot.edit(), Err(Error::Malformed { line: 2, .. })));
        assert_eq!(fs::read_to_string(&path).unwrap(), "x\nbad\n");
    }
}
