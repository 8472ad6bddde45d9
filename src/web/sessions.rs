//! Browser sessions: random 128-bit ids in an `HttpOnly; SameSite=Strict` cookie, a CSRF
//! token per session, idle expiry, and a cap on how many exist at once. The payload (the FTP
//! login and connection) stays in server memory and never reaches the browser.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Name of the session cookie.
pub const COOKIE: &str = "ferroftp_session";
/// Sessions alive at once; beyond that new visitors are refused until idle ones expire.
const MAX_SESSIONS: usize = 10_000;

/// One browser session.
pub struct Entry<T> {
    pub csrf: String,
    pub last_seen: Instant,
    /// A message for the next page (e.g. "Logged in").
    pub notice: Option<String>,
    /// Requests holding resources of this session right now (FTP connections, see
    /// `web::ftp`). A session in use never expires, however long its transfer runs.
    pub in_use: usize,
    pub data: T,
}

impl<T> Entry<T> {
    fn expired(&self, idle: Duration) -> bool {
        self.in_use == 0 && self.last_seen.elapsed() >= idle
    }
}

pub struct Sessions<T> {
    map: Mutex<HashMap<String, Arc<Mutex<Entry<T>>>>>,
    idle: Duration,
}

/// 128 random bits as 32 hex digits.
pub fn random_token() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Compares tokens in time independent of where they differ.
pub fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The value of cookie `name` in a `Cookie:` header.
pub fn cookie_value<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').find_map(|pair| {
        let (k, v) = pair.trim().split_once('=')?;
        (k == name).then_some(v)
    })
}

/// The `Set-Cookie` value for a session id (`Max-Age=0` clears it).
pub fn set_cookie(id: &str, clear: bool) -> String {
    let max_age = if clear { "; Max-Age=0" } else { "" };
    format!("{COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict{max_age}")
}

impl<T> Sessions<T> {
    pub fn new(idle: Duration) -> Sessions<T> {
        Sessions {
            map: Mutex::new(HashMap::new()),
            idle,
        }
    }

    /// Starts a session. At the cap, idle ones expire first, then the least recently seen
    /// `evictable` one (e.g. never logged in) makes room; `None` if none can.
    pub fn create(
        &self,
        data: T,
        evictable: impl Fn(&T) -> bool,
    ) -> Option<(String, Arc<Mutex<Entry<T>>>)> {
        let id = random_token().ok()?;
        let csrf = random_token().ok()?;
        let entry = Arc::new(Mutex::new(Entry {
            csrf,
            last_seen: Instant::now(),
            notice: None,
            in_use: 0,
            data,
        }));
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        if map.len() >= MAX_SESSIONS {
            drop(map);
            self.sweep();
            map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
            if map.len() >= MAX_SESSIONS {
                let victim = map
                    .iter()
                    .filter_map(|(k, e)| {
                        e.try_lock()
                            .ok()
                            .filter(|e| evictable(&e.data))
                            .map(|e| (e.last_seen, k.clone()))
                    })
                    .min()
                    .map(|(_, k)| k);
                let evicted = victim.and_then(|k| map.remove(&k));
                evicted.as_ref()?;
            }
        }
        map.insert(id.clone(), Arc::clone(&entry));
        Some((id, entry))
    }

    /// The live session for `id`, touched; expired ones are removed.
    pub fn get(&self, id: &str) -> Option<Arc<Mutex<Entry<T>>>> {
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = Arc::clone(map.get(id)?);
        // try_lock: never wait on an entry with the map locked (that would stall every
        // session); one locked this instant is in use, so not idle.
        if let Ok(mut e) = entry.try_lock() {
            if e.expired(self.idle) {
                drop(e);
                map.remove(id);
                return None;
            }
            e.last_seen = Instant::now();
        }
        Some(entry)
    }

    /// Moves a session to a fresh id with a fresh CSRF token; returns the new id.
    pub fn rotate(&self, old: &str) -> Option<String> {
        let id = random_token().ok()?;
        let csrf = random_token().ok()?;
        let entry = Arc::clone(
            self.map
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get(old)?,
        );
        // The entry's lock is waited for with the map unlocked: a session held by a slow
        // request must not stall every other session's lookups meanwhile.
        entry.lock().unwrap_or_else(PoisonError::into_inner).csrf = csrf;
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        // Ended meanwhile (logout, expiry): nothing to move.
        let current = map.remove(old)?;
        map.insert(id.clone(), current);
        Some(id)
    }

    pub fn remove(&self, id: &str) -> Option<Arc<Mutex<Entry<T>>>> {
        self.map
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(id)
    }

    /// Drops sessions idle for longer than the limit (their FTP connections close on drop).
    pub fn sweep(&self) -> usize {
        let expired: Vec<Arc<Mutex<Entry<T>>>> = {
            let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
            let idle = self.idle;
            let keys: Vec<String> = map
                .iter()
                .filter(|(_, e)| e.try_lock().is_ok_and(|e| e.expired(idle)))
                .map(|(k, _)| k.clone())
                .collect();
            keys.iter().filter_map(|k| map.remove(k)).collect()
        };
        // Dropped here, outside the map lock: closing FTP connections is I/O.
        expired.len()
    }

    pub fn len(&self) -> usize {
        self.map
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_get_expire() {
        let s: Sessions<u32> = Sessions::new(Duration::from_millis(50));
        let (id, e) = s.create(7, |_| true).unwrap();
        assert_eq!(id.len(), 32);
        assert_ne!(e.lock().unwrap().csrf, id);
        assert!(s.get(&id).is_some());
        assert!(s.get("nope").is_none());
        let old_csrf = e.lock().unwrap().csrf.clone();
        let id = s.rotate(&id).unwrap();
        assert!(s.get(&id).is_some());
        assert_ne!(e.lock().unwrap().csrf, old_csrf);
        std::thread::sleep(Duration::from_millis(80));
        assert!(s.get(&id).is_none(), "idle session expired");
        let (id2, _) = s.create(8, |_| true).unwrap();
        std::thread::sleep(Duration::from_millis(80));
        assert_eq!(s.sweep(), 1);
        assert!(s.get(&id2).is_none());
    }

    /// Rotating a session whose lock a slow request holds waits for that lock, but no
    /// other session's lookup waits with it.
    #[test]
    fn rotating_a_busy_session_stalls_no_other() {
        let s: Arc<Sessions<u32>> = Arc::new(Sessions::new(Duration::from_secs(60)));
        let (busy, entry) = s.create(1, |_| true).unwrap();
        let (other, _) = s.create(2, |_| true).unwrap();
        let held = entry.lock().unwrap();
        let rotation = std::thread::spawn({
            let (s, busy) = (Arc::clone(&s), busy.clone());
            move || s.rotate(&busy)
        });
        std::thread::sleep(Duration::from_millis(100));
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn({
            let s = Arc::clone(&s);
            move || tx.send(s.get(&other).is_some())
        });
        assert_eq!(
            rx.recv_timeout(Duration::from_secs(5)),
            Ok(true),
            "another session answers while the rotation waits"
        );
        drop(held);
        let rotated = rotation.join().unwrap().expect("rotated");
        assert!(s.get(&rotated).is_some() && s.get(&busy).is_none());
    }

    #[test]
    fn a_session_in_use_does_not_expire() {
        let s: Sessions<u32> = Sessions::new(Duration::from_millis(20));
        let (id, e) = s.create(1, |_| true).unwrap();
        e.lock().unwrap().in_use = 1;
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(s.sweep(), 0);
        assert!(s.get(&id).is_some(), "a long transfer is not idleness");
        e.lock().unwrap().in_use = 0;
        std::thread::sleep(Duration::from_millis(40));
        assert!(s.get(&id).is_none());
    }

    #[test]
    fn cookies_and_tokens() {
        assert_eq!(
            cookie_value("a=1; ferroftp_session=abc; b=2", COOKIE),
            Some("abc")
        );
        assert_eq!(cookie_value("xferroftp_session=abc", COOKIE), None);
        assert!(set_cookie("id", false).contains("HttpOnly; SameSite=Strict"));
        assert!(set_cookie("id", true).ends_with("Max-Age=0"));
        assert!(same_token("abc", "abc") && !same_token("abc", "abd") && !same_token("abc", "ab"));
    }
}
