//! Per-path locks: a check of what is at a path and the change it allows (publishing an
//! upload, a rename, a delete, a new directory, a change of visibility) are one step for
//! that path. Only the same path waits; all paths of one step are taken at once, so two
//! steps can never wait on each other. Also the claims of in-place uploads on their paths.

use std::collections::HashSet;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

#[derive(Debug, Default)]
pub struct PathLocks {
    held: Mutex<Held>,
    freed: Condvar,
}

/// The held paths, and how many steps wait for one (a release wakes them only if any do:
/// an idle condition variable's wake-up is still a system call).
#[derive(Debug, Default)]
struct Held {
    paths: HashSet<String>,
    waiting: usize,
}

/// The paths one step holds; dropped, they are free again.
pub struct PathGuard<'a> {
    locks: &'a PathLocks,
    paths: Vec<String>,
}

impl PathLocks {
    fn held(&self) -> MutexGuard<'_, Held> {
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until none of `paths` is held by another step, then holds them all.
    pub fn lock(&self, paths: &[&str]) -> PathGuard<'_> {
        let mut wanted: Vec<String> = paths.iter().map(|p| (*p).to_owned()).collect();
        wanted.sort_unstable();
        wanted.dedup();
        let mut held = self.held();
        while wanted.iter().any(|p| held.paths.contains(p)) {
            held.waiting += 1;
            held = self
                .freed
                .wait(held)
                .unwrap_or_else(PoisonError::into_inner);
            held.waiting -= 1;
        }
        held.paths.extend(wanted.iter().cloned());
        PathGuard {
            locks: self,
            paths: wanted,
        }
    }
}

impl Drop for PathGuard<'_> {
    fn drop(&mut self) {
        let mut held = self.locks.held();
        for p in &self.paths {
            held.paths.remove(p);
        }
        let waiting = held.waiting > 0;
        drop(held);
        if waiting {
            self.locks.freed.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    use super::*;

    #[test]
    fn only_the_same_path_waits() {
        let locks = Arc::new(PathLocks::default());
        let a = locks.lock(&["/a", "/b"]);
        let other = locks.lock(&["/c"]);
        drop(other);
        let got = Arc::new(AtomicBool::new(false));
        let waiter = {
            let (locks, got) = (Arc::clone(&locks), Arc::clone(&got));
            std::thread::spawn(move || {
                let _b = locks.lock(&["/b"]);
                got.store(true, Ordering::SeqCst);
            })
        };
        std::thread::sleep(Duration::from_millis(100));
        assert!(!got.load(Ordering::SeqCst), "/b is held");
        drop(a);
        waiter.join().unwrap();
        assert!(got.load(Ordering::SeqCst));
    }
}

/// The paths an upload writes in place (APPE, REST+STOR) right now: one at a time per path,
/// since two would each count the file's growth from their own start (and a refused one
/// cuts the file back under the other).
#[derive(Debug, Default)]
pub struct InPlaceWriters {
    paths: Arc<Mutex<HashSet<String>>>,
}

/// A path claimed for one in-place upload; dropped, it is free again.
#[derive(Debug)]
pub struct WriterClaim {
    paths: Arc<Mutex<HashSet<String>>>,
    path: String,
}

impl InPlaceWriters {
    /// Claims `path`, or None while another in-place upload writes it.
    pub fn claim(&self, path: &str) -> Option<WriterClaim> {
        let mut paths = self.paths.lock().unwrap_or_else(PoisonError::into_inner);
        paths.insert(path.to_owned()).then(|| WriterClaim {
            paths: Arc::clone(&self.paths),
            path: path.to_owned(),
        })
    }
}

impl Drop for WriterClaim {
    fn drop(&mut self) {
        let mut paths = self.paths.lock().unwrap_or_else(PoisonError::into_inner);
        paths.remove(&self.path);
    }
}
