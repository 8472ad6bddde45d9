//! What this node read from the store in the last second: object heads and directory
//! answers, so one command's resolve, stat and open ask the store once per key (each ask is
//! a round trip to a quorum of store nodes). Writes by this node forget what they touch;
//! another node's change applies here within `TTL`.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use super::client::Head;
use crate::storage::Meta;

/// How long an answer is trusted.
pub const TTL: Duration = Duration::from_secs(1);
/// Answers remembered at most (all are forgotten when it is reached).
const MAX_ENTRIES: usize = 10_000;

/// A directory as the store showed it: its marker's time and record (none for a directory
/// another tool made without a marker).
#[derive(Debug, Clone)]
pub struct DirSeen {
    pub modified: SystemTime,
    pub record: Option<Meta>,
}

#[derive(Debug, Clone)]
pub enum Seen {
    /// HEAD of an object key (`None`: no such object).
    Head(Option<Head>),
    /// A directory's marker key (`None`: no such directory).
    Dir(Option<DirSeen>),
}

#[derive(Debug, Default)]
pub struct Recent {
    map: Mutex<HashMap<String, (Instant, Seen)>>,
}

impl Recent {
    pub fn get(&self, key: &str) -> Option<Seen> {
        let map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        map.get(key)
            .filter(|(read, _)| read.elapsed() < TTL)
            .map(|(_, seen)| seen.clone())
    }

    pub fn put(&self, key: &str, seen: Seen) {
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
        map.insert(key.to_owned(), (Instant::now(), seen));
    }

    /// This node wrote `key` (an object, or a directory's name): both its answers go.
    pub fn forget(&self, key: &str) {
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        let key = key.trim_end_matches('/');
        map.remove(key);
        map.remove(&format!("{key}/"));
    }

    /// This node moved or rewrote many keys at once.
    pub fn forget_all(&self) {
        self.map
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}
