//! Who gets a worker: the IP block, the per-IP and total limits, and eviction. When every
//! worker is taken, a new connection takes the place of a not-yet-logged-in session: the one
//! that has waited longest among those of the address holding the most of them, and only
//! one that has waited at least `min_wait`. Logged-in sessions are never evicted.
//!
//! SECURITY: the address rule makes a flood evict itself first; the minimum wait gives a
//! login in progress time to finish, so one address churning connections cannot evict every
//! newcomer before it logs in.

use std::collections::HashMap;
use std::net::{IpAddr, Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// Why a connection was refused; each is the exact line the peer gets.
pub const REFUSED_BLOCKED: &str =
    "421 Too many failed logins from your address; try again later.\r\n";
pub const REFUSED_PER_IP: &str = "421 Too many connections from your address.\r\n";
pub const REFUSED_FULL: &str = "421 Too many connections.\r\n";

/// A refusal's name in the metrics.
pub fn refusal_reason(reply: &str) -> &'static str {
    match reply {
        REFUSED_BLOCKED => "blocked",
        REFUSED_PER_IP => "per_ip",
        REFUSED_FULL => "full",
        _ => "other",
    }
}

/// One admitted session as the admission desk sees it.
struct Seat {
    ip: IpAddr,
    /// Since when it has been waiting to log in; `None` while logged in.
    waiting_since: Option<Instant>,
    /// Set when its place was given to a newer connection.
    evicted: Arc<AtomicBool>,
    /// A second handle on its socket, to wake its blocked read when it is evicted.
    socket: Option<TcpStream>,
}

#[derive(Default)]
struct Seats {
    next_id: u64,
    by_id: HashMap<u64, Seat>,
    per_ip: HashMap<IpAddr, usize>,
    /// Seats not (yet) evicted: what counts against `max_sessions`.
    holding: usize,
}

/// Every admitted session, shared by the acceptors and the sessions themselves.
pub struct Admission {
    seats: Mutex<Seats>,
    /// Admitted sessions whose permit is alive (evicted ones until they have gone).
    active: AtomicUsize,
    /// How long a session is safe from eviction after it connected.
    min_wait: Duration,
}

impl Admission {
    pub fn new(min_wait: Duration) -> Admission {
        Admission {
            seats: Mutex::new(Seats::default()),
            active: AtomicUsize::new(0),
            min_wait,
        }
    }

    fn seats(&self) -> MutexGuard<'_, Seats> {
        self.seats.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn active(&self) -> usize {
        self.active.load(Ordering::SeqCst)
    }

    /// True when all `max_sessions` seats are taken (a newcomer would need an eviction).
    pub fn is_full(&self, max_sessions: usize) -> bool {
        self.seats().holding >= max_sessions
    }

    /// Gives `stream` (from `ip`) a seat, evicting the longest-waiting not-logged-in session
    /// when all `max_sessions` are taken; `Err` is the refusal line.
    pub fn admit(
        self: &Arc<Admission>,
        ip: IpAddr,
        stream: &TcpStream,
        max_sessions: usize,
        (max_per_ip, may_evict): (usize, bool),
    ) -> Result<Permit, &'static str> {
        let mut seats = self.seats();
        if seats.per_ip.get(&ip).copied().unwrap_or(0) >= max_per_ip {
            return Err(REFUSED_PER_IP);
        }
        if seats.holding >= max_sessions && !(may_evict && seats.evict_one(self.min_wait)) {
            return Err(REFUSED_FULL);
        }
        let id = seats.next_id;
        seats.next_id += 1;
        let evicted = Arc::new(AtomicBool::new(false));
        seats.by_id.insert(
            id,
            Seat {
                ip,
                waiting_since: Some(Instant::now()),
                evicted: Arc::clone(&evicted),
                socket: stream.try_clone().ok(),
            },
        );
        *seats.per_ip.entry(ip).or_insert(0) += 1;
        seats.holding += 1;
        self.active.fetch_add(1, Ordering::SeqCst);
        Ok(Permit {
            admission: Arc::clone(self),
            id,
            evicted,
        })
    }
}

impl Seats {
    /// One seat fewer held by `ip`.
    fn release_ip(&mut self, ip: IpAddr) {
        if let Some(count) = self.per_ip.get_mut(&ip) {
            *count -= 1;
            if *count == 0 {
                self.per_ip.remove(&ip);
            }
        }
    }

    /// Evicts a not-logged-in session that has waited at least `min_wait`: the longest
    /// waiting of the address that holds the most such sessions. False when there is none.
    fn evict_one(&mut self, min_wait: Duration) -> bool {
        let mut waiting_per_ip: HashMap<IpAddr, usize> = HashMap::new();
        for seat in self.by_id.values() {
            if seat.waiting_since.is_some() && !seat.evicted.load(Ordering::SeqCst) {
                *waiting_per_ip.entry(seat.ip).or_insert(0) += 1;
            }
        }
        let victim = self
            .by_id
            .iter()
            .filter(|(_, s)| !s.evicted.load(Ordering::SeqCst))
            .filter_map(|(id, s)| s.waiting_since.map(|t| (s, t, *id)))
            .filter(|(_, t, _)| t.elapsed() >= min_wait)
            .map(|(s, t, id)| (std::cmp::Reverse(waiting_per_ip[&s.ip]), t, id))
            .min();
        let Some((_, _, id)) = victim else {
            return false;
        };
        let Some(seat) = self.by_id.get_mut(&id) else {
            return false;
        };
        seat.evicted.store(true, Ordering::SeqCst);
        // Its worker may be blocked in a read: end the read side so it wakes at once and
        // answers 421 on the way out (the write side stays open for that).
        if let Some(socket) = seat.socket.take() {
            let _ = socket.shutdown(Shutdown::Read);
        }
        self.holding -= 1;
        true
    }
}

/// One admitted session's seat; dropping it (even after a panic) frees the seat.
pub struct Permit {
    admission: Arc<Admission>,
    id: u64,
    evicted: Arc<AtomicBool>,
}

impl Permit {
    /// True once a newer connection took this session's place.
    pub fn is_evicted(&self) -> bool {
        self.evicted.load(Ordering::SeqCst)
    }

    /// The session logged in: it can no longer be evicted. False if it was evicted first.
    pub fn logged_in(&self) -> bool {
        let mut seats = self.admission.seats();
        let Some(seat) = seats.by_id.get_mut(&self.id) else {
            return false;
        };
        if seat.evicted.load(Ordering::SeqCst) {
            return false;
        }
        seat.waiting_since = None;
        seat.socket = None;
        true
    }

    /// The session turned out to come from `ip` (a proxy's PROXY header named it): it counts
    /// against that address from now on, unless that address already holds `max_per_ip`.
    pub fn rekey(&self, ip: IpAddr, max_per_ip: usize) -> Result<(), &'static str> {
        let mut seats = self.admission.seats();
        let Some(old) = seats.by_id.get(&self.id).map(|seat| seat.ip) else {
            return Ok(());
        };
        if old == ip {
            // The header named the proxy itself (LOCAL, UNKNOWN): it still counts for it.
            if seats.per_ip.get(&ip).copied().unwrap_or(0) > max_per_ip {
                return Err(REFUSED_PER_IP);
            }
            return Ok(());
        }
        if seats.per_ip.get(&ip).copied().unwrap_or(0) >= max_per_ip {
            return Err(REFUSED_PER_IP);
        }
        seats.release_ip(old);
        *seats.per_ip.entry(ip).or_insert(0) += 1;
        if let Some(seat) = seats.by_id.get_mut(&self.id) {
            seat.ip = ip;
        }
        Ok(())
    }

    /// The session went back to the greeting (REIN): evictable again, as a newcomer.
    pub fn logged_out(&self, socket: &TcpStream) {
        let mut seats = self.admission.seats();
        if let Some(seat) = seats.by_id.get_mut(&self.id) {
            seat.waiting_since = Some(Instant::now());
            seat.socket = socket.try_clone().ok();
        }
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut seats = self.admission.seats();
        if let Some(seat) = seats.by_id.remove(&self.id) {
            if !seat.evicted.load(Ordering::SeqCst) {
                seats.holding -= 1;
            }
            seats.release_ip(seat.ip);
        }
        self.admission.active.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;

    use super::*;

    fn pair(listener: &TcpListener) -> (TcpStream, TcpStream) {
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        (client, server)
    }

    #[test]
    fn full_pool_evicts_the_longest_waiting_and_never_a_logged_in_session() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let desk = Arc::new(Admission::new(Duration::ZERO));
        let (_c1, s1) = pair(&listener);
        let (_c2, s2) = pair(&listener);
        let (_c3, s3) = pair(&listener);
        let (_c4, s4) = pair(&listener);
        let first = desk.admit(ip, &s1, 2, (10, true)).unwrap();
        let second = desk.admit(ip, &s2, 2, (10, true)).unwrap();
        assert!(first.logged_in());
        // One whose client is not known yet (a PROXY header still to come) evicts no one.
        assert_eq!(
            desk.admit(ip, &s3, 2, (10, false)).err(),
            Some(REFUSED_FULL)
        );
        assert!(!second.is_evicted());
        let third = desk.admit(ip, &s3, 2, (10, true)).unwrap();
        assert!(second.is_evicted() && !first.is_evicted() && !third.is_evicted());
        assert!(
            !second.logged_in(),
            "an evicted session cannot log in after all"
        );
        assert!(third.logged_in());
        assert_eq!(desk.admit(ip, &s4, 2, (10, true)).err(), Some(REFUSED_FULL));
        drop(second);
        assert_eq!(desk.admit(ip, &s4, 2, (10, true)).err(), Some(REFUSED_FULL));
        drop(first);
        let fourth = desk.admit(ip, &s4, 2, (10, true)).unwrap();
        assert_eq!(desk.active(), 2);
        assert_eq!(
            desk.admit(ip, &s1, 9, (2, true)).err(),
            Some(REFUSED_PER_IP)
        );
        drop((third, fourth));
        assert_eq!(desk.active(), 0);
    }

    #[test]
    fn a_rekeyed_seat_counts_against_the_address_it_was_given() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let (proxy, a, b): (IpAddr, IpAddr, IpAddr) = (
            "127.0.0.10".parse().unwrap(),
            "127.0.0.5".parse().unwrap(),
            "127.0.0.6".parse().unwrap(),
        );
        let desk = Arc::new(Admission::new(Duration::ZERO));
        let pairs: Vec<_> = (0..3).map(|_| pair(&listener)).collect();
        let first = desk
            .admit(proxy, &pairs[0].1, 10, (usize::MAX, true))
            .unwrap();
        let second = desk
            .admit(proxy, &pairs[1].1, 10, (usize::MAX, true))
            .unwrap();
        let third = desk
            .admit(proxy, &pairs[2].1, 10, (usize::MAX, true))
            .unwrap();
        assert_eq!(first.rekey(a, 1), Ok(()));
        assert_eq!(second.rekey(a, 1), Err(REFUSED_PER_IP));
        assert_eq!(third.rekey(b, 1), Ok(()));
        drop(first);
        assert_eq!(second.rekey(a, 1), Ok(()), "the seat of a is free again");
        assert_eq!(desk.seats().per_ip.get(&proxy), None);
        drop((second, third));
        assert!(desk.seats().per_ip.is_empty());
    }

    #[test]
    fn the_address_with_most_waiting_loses_first_and_young_sessions_are_safe() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let (flood, user): (IpAddr, IpAddr) =
            ("127.0.0.2".parse().unwrap(), "127.0.0.3".parse().unwrap());
        let desk = Arc::new(Admission::new(Duration::ZERO));
        let pairs: Vec<_> = (0..4).map(|_| pair(&listener)).collect();
        let legit = desk.admit(user, &pairs[0].1, 3, (10, true)).unwrap();
        let f1 = desk.admit(flood, &pairs[1].1, 3, (10, true)).unwrap();
        let f2 = desk.admit(flood, &pairs[2].1, 3, (10, true)).unwrap();
        let f3 = desk.admit(flood, &pairs[3].1, 3, (10, true)).unwrap();
        assert!(
            f1.is_evicted(),
            "the flood's oldest goes, not the older legit session"
        );
        assert!(!legit.is_evicted() && !f2.is_evicted() && !f3.is_evicted());
        let young = Arc::new(Admission::new(Duration::from_secs(60)));
        let a = young.admit(user, &pairs[0].1, 1, (10, true)).unwrap();
        assert_eq!(
            young.admit(flood, &pairs[1].1, 1, (10, true)).err(),
            Some(REFUSED_FULL)
        );
        assert!(!a.is_evicted());
    }
}
