//! Bandwidth limits (`upload_rate`, `download_rate` of limits.txt): one pacer per user and
//! direction, shared by every transfer of that user, says how long a transfer waits after
//! moving some bytes so that the user's transfers together keep to the rate. Parallel
//! sessions therefore split the rate rather than multiply it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::limits::TRANSFER_BUFFER;

/// The smallest piece a paced transfer moves at once.
const MIN_CHUNK: usize = 4096;

/// A rate in bytes per second, and when the next byte may go.
#[derive(Debug)]
pub struct Pacer {
    rate: u64,
    next: Mutex<Instant>,
}

impl Pacer {
    /// `rate` bytes per second (at least 1).
    pub fn new(rate: u64) -> Pacer {
        Pacer {
            rate: rate.max(1),
            next: Mutex::new(Instant::now()),
        }
    }

    pub fn rate(&self) -> u64 {
        self.rate
    }

    /// The most a paced transfer moves in one go: about an eighth of a second's worth, so
    /// the rate holds over short stretches too.
    pub fn chunk(&self) -> usize {
        usize::try_from(self.rate / 8)
            .unwrap_or(usize::MAX)
            .clamp(MIN_CHUNK, TRANSFER_BUFFER)
    }

    /// `n` bytes moved at `now`: how long to wait before moving more. Time nobody used is not
    /// saved up, so a transfer never bursts past the rate after a pause.
    pub fn charge(&self, n: u64, now: Instant) -> Duration {
        let mut next = self.next.lock().unwrap_or_else(PoisonError::into_inner);
        let start = (*next).max(now);
        *next = start + Duration::from_secs_f64(n as f64 / self.rate as f64);
        next.saturating_duration_since(now)
    }
}

/// Which way a paced transfer goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Way {
    Upload,
    Download,
}

/// The pacers of the users with a rate (upload, download), made on first need.
#[derive(Debug, Default)]
pub struct Pacers {
    by_user: Mutex<HashMap<String, [Option<Arc<Pacer>>; 2]>>,
}

impl Pacers {
    /// The pacer of `user`'s transfers going `way` at `rate` (None: unpaced). A changed rate
    /// gets a fresh pacer; transfers already running keep theirs.
    pub fn get(&self, user: &str, way: Way, rate: Option<u64>) -> Option<Arc<Pacer>> {
        let mut map = self.by_user.lock().unwrap_or_else(PoisonError::into_inner);
        let slot = way as usize;
        let Some(rate) = rate else {
            // Unpaced: no allocation, and a rate lifted since frees its pacer.
            if let Some(pacers) = map.get_mut(user) {
                pacers[slot] = None;
                if pacers.iter().all(Option::is_none) {
                    map.remove(user);
                }
            }
            return None;
        };
        let pacer = &mut map.entry(user.to_owned()).or_default()[slot];
        match pacer {
            Some(p) if p.rate() == rate => {}
            _ => *pacer = Some(Arc::new(Pacer::new(rate))),
        }
        pacer.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_add_up_to_the_rate_and_idle_time_is_not_saved() {
        let pacer = Pacer::new(1000);
        let t0 = Instant::now();
        assert_eq!(pacer.charge(500, t0), Duration::from_millis(500));
        // Charged again at once: it waits for both.
        assert_eq!(pacer.charge(500, t0), Duration::from_millis(1000));
        // After the wait, the next piece waits its own time only.
        let t1 = t0 + Duration::from_millis(1000);
        assert_eq!(pacer.charge(250, t1), Duration::from_millis(250));
        // A long pause buys no burst.
        let t2 = t1 + Duration::from_secs(60);
        assert_eq!(pacer.charge(1000, t2), Duration::from_secs(1));
    }

    #[test]
    fn pieces_are_an_eighth_of_a_second_within_bounds() {
        assert_eq!(Pacer::new(1 << 20).chunk(), 128 << 10);
        assert_eq!(Pacer::new(1024).chunk(), MIN_CHUNK);
        assert_eq!(Pacer::new(1 << 40).chunk(), TRANSFER_BUFFER);
    }

    #[test]
    fn one_pacer_per_user_and_way_renewed_when_the_rate_changes() {
        let pacers = Pacers::default();
        assert!(pacers.get("alice", Way::Upload, None).is_none());
        let a = pacers.get("alice", Way::Upload, Some(2048)).unwrap();
        let b = pacers.get("alice", Way::Upload, Some(2048)).unwrap();
        assert!(Arc::ptr_eq(&a, &b), "parallel transfers share one pacer");
        let down = pacers.get("alice", Way::Download, Some(2048)).unwrap();
        assert!(!Arc::ptr_eq(&a, &down));
        let faster = pacers.get("alice", Way::Upload, Some(4096)).unwrap();
        assert_eq!(faster.rate(), 4096);
        assert!(pacers.get("alice", Way::Upload, None).is_none());
        assert!(pacers.get("alice", Way::Download, None).is_none());
        assert!(
            pacers.by_user.lock().unwrap().is_empty(),
            "lifted rates free their pacers"
        );
    }
}
