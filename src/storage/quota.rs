//! Quotas: the bytes and files each owner's records add up to, counted once from the records
//! and the disk when a quota first needs them, then kept current by every upload and delete.
//! An upload holds what it has written so far (and the file it will add) against its owner's
//! quota while its bytes flow, so parallel uploads of one user cannot pass the quota together,
//! and a replacement is judged again when it is published.
//!
//! SECURITY: where a change races the first count, the count errs high, never low (a low
//! count would let a user past the quota): additions always apply, and reductions only once
//! the count is in. The next start counts afresh.
//! Which quota applies to whom is `auth::Limits`' business; this file only counts and judges.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use crate::storage::Error;

/// The quota of one owner; None: no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Quota {
    pub bytes: Option<u64>,
    pub files: Option<u64>,
}

impl Quota {
    pub fn is_none(&self) -> bool {
        self.bytes.is_none() && self.files.is_none()
    }
}

/// What an owner has, and what uploads in flight hold on top.
#[derive(Debug, Default)]
pub(super) struct Usage {
    /// Signed: files changed behind the server's back can make a count drift below zero.
    bytes: AtomicI64,
    files: AtomicI64,
    held_bytes: AtomicU64,
    held_files: AtomicU64,
    /// Set once the first count is in; until then, quota checks of this owner wait for it
    /// (in `UsageBook::of`), and reductions are not applied (see the module comment).
    counted: OnceLock<()>,
    /// Held while the first count runs: one count at a time, and a failed one is tried again.
    counting: Mutex<()>,
}

impl Usage {
    /// Bytes and files owned now (not counting uploads in flight).
    pub(super) fn owned(&self) -> (u64, u64) {
        let get = |a: &AtomicI64| u64::try_from(a.load(Ordering::Acquire)).unwrap_or(0);
        (get(&self.bytes), get(&self.files))
    }

    /// A committed change: `bytes` more (or fewer) bytes, `files` more (or fewer) files.
    pub(super) fn add(&self, bytes: i64, files: i64) {
        let counted = self.counted.get().is_some();
        for (counter, change) in [(&self.bytes, bytes), (&self.files, files)] {
            if change >= 0 || counted {
                counter.fetch_add(change, Ordering::AcqRel);
            }
        }
    }

    fn held_bytes(&self) -> u64 {
        self.held_bytes.load(Ordering::Acquire)
    }
}

/// Usage per owner, for the owners a quota has asked about since start.
#[derive(Debug, Default)]
pub(super) struct UsageBook {
    owners: Mutex<HashMap<String, Arc<Usage>>>,
}

impl UsageBook {
    /// `owner`'s usage, counted by `count` (bytes, files) the first time. The book's lock is
    /// held only to find or insert the entry; the count runs outside it, and other checks of
    /// the same owner wait for it rather than judge on a partial count.
    ///
    /// SECURITY: a count that fails is an error, never zero (that would lift the quota).
    pub(super) fn of(
        &self,
        owner: &str,
        count: impl FnOnce() -> Result<(u64, u64), Error>,
    ) -> Result<Arc<Usage>, Error> {
        let usage = {
            let mut owners = self.owners.lock().unwrap_or_else(PoisonError::into_inner);
            Arc::clone(owners.entry(owner.to_owned()).or_default())
        };
        if usage.counted.get().is_none() {
            let _counting = usage
                .counting
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if usage.counted.get().is_none() {
                // Additions that land while the count runs are added as they come (one the
                // count also sees is counted twice); reductions wait for the count (one it saw
                // first is missed): both err high.
                let (bytes, files) = count()?;
                usage.add(to_signed(bytes), to_signed(files));
                let _ = usage.counted.set(());
            }
        }
        Ok(usage)
    }

    /// `owner`'s usage if a quota asked for it already (counted, or being counted), else
    /// None: a change to apply.
    pub(super) fn existing(&self, owner: &str) -> Option<Arc<Usage>> {
        let owners = self.owners.lock().unwrap_or_else(PoisonError::into_inner);
        owners.get(owner).cloned()
    }

    /// Forgets `owner` (their records changed wholesale): counted again when next needed.
    pub(super) fn forget(&self, owner: &str) {
        let mut owners = self.owners.lock().unwrap_or_else(PoisonError::into_inner);
        owners.remove(owner);
    }
}

fn to_signed(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// An upload's claim on its owner's quota while it runs; dropping it gives the claim back
/// (a committed upload's bytes are added to the usage by then).
#[derive(Debug)]
pub struct Hold {
    usage: Arc<Usage>,
    quota: Quota,
    /// Bytes of the file this upload replaces, which it may use without new room.
    credit: u64,
    written: u64,
    held: u64,
    holds_file: bool,
}

impl Hold {
    /// Claims a file (for a new one) and judges whether any room is left: `QuotaFiles` or
    /// `QuotaBytes` before a byte moves. `credit`: the size of the owner's file it replaces.
    pub(super) fn begin(
        usage: Arc<Usage>,
        quota: Quota,
        credit: u64,
        new_file: bool,
    ) -> Result<Hold, Error> {
        let mut hold = Hold {
            usage,
            quota,
            credit,
            written: 0,
            held: 0,
            holds_file: false,
        };
        if new_file {
            let held = hold.usage.held_files.fetch_add(1, Ordering::AcqRel) + 1;
            hold.holds_file = true;
            let (_, files) = hold.usage.owned();
            if quota.files.is_some_and(|max| files + held > max) {
                return Err(Error::QuotaFiles);
            }
        }
        let (bytes, _) = hold.usage.owned();
        let held = hold.usage.held_bytes();
        if credit == 0 && quota.bytes.is_some_and(|max| bytes + held >= max) {
            return Err(Error::QuotaBytes);
        }
        Ok(hold)
    }

    /// `n` more bytes reached the file: `QuotaBytes` once the owner's files and every upload
    /// in flight would pass the quota together. What stays within the credit always fits, so
    /// a user over the quota can still shrink a file.
    pub(super) fn grow(&mut self, n: u64) -> Result<(), Error> {
        self.written += n;
        let want = self.written.saturating_sub(self.credit);
        if want > self.held {
            self.usage
                .held_bytes
                .fetch_add(want - self.held, Ordering::AcqRel);
            self.held = want;
        }
        let Some(max) = self.quota.bytes else {
            return Ok(());
        };
        let (bytes, _) = self.usage.owned();
        // The replaced file is still in `bytes`; this upload holds only what goes beyond it.
        if want > 0 && bytes.saturating_add(self.usage.held_bytes()) > max {
            return Err(Error::QuotaBytes);
        }
        Ok(())
    }

    /// Publishing a replacement of `old_len` bytes (the file there now) by `new_len`: judged
    /// again, as the credit given at the start may be stale (another session changed the
    /// file meanwhile). A replacement that does not grow the file always fits.
    pub(super) fn fits_replacing(&self, old_len: u64, new_len: u64) -> bool {
        let Some(max) = self.quota.bytes else {
            return true;
        };
        if new_len <= old_len {
            return true;
        }
        let (bytes, _) = self.usage.owned();
        let others = self.usage.held_bytes().saturating_sub(self.held);
        bytes - bytes.min(old_len) + new_len + others <= max
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        self.usage.held_bytes.fetch_sub(self.held, Ordering::AcqRel);
        if self.holds_file {
            self.usage.held_files.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quota(bytes: Option<u64>, files: Option<u64>) -> Quota {
        Quota { bytes, files }
    }

    #[test]
    fn counts_once_then_applies_changes() {
        let book = UsageBook::default();
        assert!(book.existing("alice").is_none());
        let usage = book.of("alice", || Ok((100, 2))).unwrap();
        assert_eq!(usage.owned(), (100, 2));
        let again = book.of("alice", || panic!("counted twice")).unwrap();
        again.add(-40, -1);
        assert_eq!(book.existing("alice").unwrap().owned(), (60, 1));
        book.forget("alice");
        assert_eq!(book.of("alice", || Ok((7, 7))).unwrap().owned(), (7, 7));
        usage.add(-1000, 0);
        assert_eq!(usage.owned(), (0, 1), "drift below zero shows as zero");
    }

    #[test]
    fn a_failed_count_is_an_error_and_is_tried_again() {
        let book = UsageBook::default();
        let failed = book.of("alice", || {
            Err(Error::Io(std::io::Error::other("store down")))
        });
        assert!(failed.is_err(), "never a count of zero");
        assert_eq!(book.of("alice", || Ok((5, 1))).unwrap().owned(), (5, 1));
    }

    #[test]
    fn reductions_wait_for_the_first_count_additions_do_not() {
        let usage = Usage::default();
        usage.add(-5, -1);
        usage.add(7, 1);
        assert_eq!(
            usage.owned(),
            (7, 1),
            "a reduction before the count errs high"
        );
    }

    #[test]
    fn a_replacement_is_judged_again_with_the_file_there_now_and_may_always_shrink() {
        let book = UsageBook::default();
        let usage = book.of("alice", || Ok((100, 1))).unwrap();
        let q = quota(Some(100), None);
        let mut over = Hold::begin(Arc::clone(&usage), q, 100, false).unwrap();
        over.grow(100).unwrap();
        // Meanwhile another session emptied the file and filled the room with another one.
        usage.add(-100, 0);
        usage.add(100, 1);
        assert!(!over.fits_replacing(0, 100), "the credit went stale");
        assert!(over.fits_replacing(100, 100));
        // Over the quota (an admin appended), the owner can still make a file smaller.
        usage.add(50, 0);
        let mut shrink = Hold::begin(Arc::clone(&usage), q, 100, false).unwrap();
        shrink.grow(60).unwrap();
        assert!(shrink.fits_replacing(100, 60));
    }

    #[test]
    fn files_and_bytes_are_judged_before_and_while_bytes_flow() {
        let book = UsageBook::default();
        let usage = book.of("alice", || Ok((90, 2))).unwrap();
        let q = quota(Some(100), Some(3));
        let mut one = Hold::begin(Arc::clone(&usage), q, 0, true).unwrap();
        assert!(matches!(
            Hold::begin(Arc::clone(&usage), q, 0, true),
            Err(Error::QuotaFiles)
        ));
        one.grow(10).unwrap();
        assert!(matches!(one.grow(1), Err(Error::QuotaBytes)));
        drop(one);
        assert_eq!(usage.held_bytes.load(Ordering::Acquire), 0);
        assert_eq!(usage.held_files.load(Ordering::Acquire), 0);
        usage.add(10, 0);
        assert!(matches!(
            Hold::begin(Arc::clone(&usage), q, 0, false),
            Err(Error::QuotaBytes)
        ));
    }

    #[test]
    fn parallel_uploads_share_the_room_and_a_replacement_may_reuse_its_own() {
        let book = UsageBook::default();
        let usage = book.of("alice", || Ok((50, 1))).unwrap();
        let q = quota(Some(100), None);
        let mut a = Hold::begin(Arc::clone(&usage), q, 0, true).unwrap();
        let mut b = Hold::begin(Arc::clone(&usage), q, 0, true).unwrap();
        a.grow(30).unwrap();
        b.grow(20).unwrap();
        assert!(matches!(b.grow(1), Err(Error::QuotaBytes)));
        drop((a, b));
        // At the quota: replacing a 50-byte file with 50 bytes fits, with 51 it does not.
        usage.add(50, 1);
        let mut c = Hold::begin(Arc::clone(&usage), q, 50, false).unwrap();
        c.grow(50).unwrap();
        assert!(matches!(c.grow(1), Err(Error::QuotaBytes)));
    }
}
