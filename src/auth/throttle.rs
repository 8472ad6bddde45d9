//! Brute-force defence: failed logins counted per client IP in a sliding window; too many block
//! the IP for a while (SPEC: 5 failures in 10 minutes block for 15 minutes, `421` at connect).
//! Owns only the counting; the caller decides what to answer and logs the block.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Most client addresses tracked at once. Beyond it expired entries are dropped, then the least
/// recently active one, so memory stays bounded whatever an attacker sends.
pub const MAX_TRACKED_IPS: usize = 100_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottlePolicy {
    /// Failures within `window` that start a block.
    pub max_failures: u32,
    pub window: Duration,
    /// How long a blocked IP stays blocked.
    pub block: Duration,
}

impl Default for ThrottlePolicy {
    fn default() -> ThrottlePolicy {
        ThrottlePolicy {
            max_failures: 5,
            window: Duration::from_secs(10 * 60),
            block: Duration::from_secs(15 * 60),
        }
    }
}

/// Failure counts per IP; cheap to clone (shared).
#[derive(Clone)]
pub struct Throttle {
    policy: ThrottlePolicy,
    ips: Arc<Mutex<HashMap<IpAddr, Record>>>,
    /// Networks never counted nor blocked (`login_safelist`).
    safelist: Arc<Vec<ipnet::IpNet>>,
}

/// What `begin_attempt` decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    Go,
    /// Too many checks under way for the failures left: try again shortly.
    Busy,
    Blocked,
}

#[derive(Debug, Default)]
struct Record {
    /// Times of recent failures, oldest first; at most `max_failures` of them.
    failures: VecDeque<Instant>,
    blocked_until: Option<Instant>,
    /// Password checks under way (reserved by `begin_attempt`, not yet judged).
    in_flight: u32,
}

impl Record {
    fn is_blocked(&self, now: Instant) -> bool {
        self.blocked_until.is_some_and(|until| now < until)
    }

    fn forget_old(&mut self, now: Instant, window: Duration) {
        while let Some(&first) = self.failures.front() {
            if now.saturating_duration_since(first) < window {
                break;
            }
            self.failures.pop_front();
        }
        if !self.is_blocked(now) {
            self.blocked_until = None;
        }
    }

    fn is_expired(&self) -> bool {
        self.failures.is_empty() && self.blocked_until.is_none() && self.in_flight == 0
    }

    fn last_activity(&self) -> Option<Instant> {
        self.failures.back().copied().max(self.blocked_until)
    }
}

impl Throttle {
    pub fn new(policy: ThrottlePolicy) -> Throttle {
        Throttle {
            policy,
            ips: Arc::new(Mutex::new(HashMap::new())),
            safelist: Arc::new(Vec::new()),
        }
    }

    /// The same throttle with `safelist`: addresses in it are never counted nor blocked
    /// (an office LAN behind one NAT address, a monitoring host).
    pub fn with_safelist(mut self, safelist: Vec<ipnet::IpNet>) -> Throttle {
        self.safelist = Arc::new(safelist);
        self
    }

    /// In `login_safelist` (`ip` as it came; IPv4-mapped addresses count as IPv4).
    pub fn is_safelisted(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.safelist.iter().any(|net| net.contains(&ip))
    }

    /// Lifts a block of `ip` and forgets its failures (`ferroftp unblock`, `SITE UNBLOCK`);
    /// true when it was blocked.
    pub fn unblock(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        let mut ips = self.lock();
        let Some(record) = ips.get_mut(&ip) else {
            return false;
        };
        let was_blocked = record.is_blocked(Instant::now());
        record.failures.clear();
        record.blocked_until = None;
        if record.is_expired() {
            ips.remove(&ip);
        }
        was_blocked
    }

    pub fn policy(&self) -> ThrottlePolicy {
        self.policy
    }

    /// Whether `ip` is blocked now (check at connect and before PASS).
    pub fn is_blocked(&self, ip: IpAddr) -> bool {
        self.is_blocked_at(ip, Instant::now())
    }

    /// Counts one event from `ip` (a failed login for the login throttle, a signup for the
    /// signup throttle). True when this one started a block, so the caller logs the block
    /// exactly once. A successful login does not reset the count.
    pub fn record(&self, ip: IpAddr) -> bool {
        self.record_at(ip, Instant::now())
    }

    pub(crate) fn is_blocked_at(&self, ip: IpAddr, now: Instant) -> bool {
        let ip = canonical(ip);
        let mut ips = self.lock();
        let Some(record) = ips.get_mut(&ip) else {
            return false;
        };
        record.forget_old(now, self.policy.window);
        let blocked = record.is_blocked(now);
        if record.is_expired() {
            ips.remove(&ip);
        }
        blocked
    }

    pub(crate) fn record_at(&self, ip: IpAddr, now: Instant) -> bool {
        let ip = canonical(ip);
        self.record_locked(&mut self.lock(), ip, now)
    }

    /// `record_at` with the map already locked (`ip` canonical).
    fn record_locked(&self, ips: &mut HashMap<IpAddr, Record>, ip: IpAddr, now: Instant) -> bool {
        if self.is_safelisted(ip) {
            return false;
        }
        if !ips.contains_key(&ip) && ips.len() >= MAX_TRACKED_IPS {
            make_room(ips, now, self.policy.window);
        }
        let record = ips.entry(ip).or_default();
        record.forget_old(now, self.policy.window);
        if record.is_blocked(now) {
            // Already blocked: the block is not extended, or a client that keeps retrying
            // would never get back in.
            return false;
        }
        // SECURITY: password guessing; `max_failures` guesses per `window` per IP, then none for
        // `block`. The queue never holds more than `max_failures` times.
        record.failures.push_back(now);
        if record.failures.len() >= self.policy.max_failures.max(1) as usize {
            record.failures.clear();
            record.blocked_until = Some(now + self.policy.block);
            return true;
        }
        false
    }

    /// Reserves a password check for `ip` (`Go`), unless it is blocked or failures plus
    /// checks already under way reach the limit (`Busy`: wait for one to finish). SECURITY: counting only after bcrypt would let
    /// many parallel connections each try a password before the first failure is recorded.
    /// Every `Go` must be followed by exactly one `end_attempt`.
    pub fn begin_attempt(&self, ip: IpAddr) -> Attempt {
        let (ip, now) = (canonical(ip), Instant::now());
        let mut ips = self.lock();
        if !ips.contains_key(&ip) && ips.len() >= MAX_TRACKED_IPS {
            make_room(&mut ips, now, self.policy.window);
        }
        if self.is_safelisted(ip) {
            return Attempt::Go;
        }
        let record = ips.entry(ip).or_default();
        record.forget_old(now, self.policy.window);
        let limit = self.policy.max_failures.max(1) as usize;
        if record.is_blocked(now) {
            return Attempt::Blocked;
        }
        if record.failures.len() + record.in_flight as usize >= limit {
            return Attempt::Busy;
        }
        record.in_flight += 1;
        Attempt::Go
    }

    /// Ends a check reserved by `begin_attempt`; a failure is then counted as by
    /// `record` (true when it started a block).
    pub fn end_attempt(&self, ip: IpAddr, failed: bool) -> bool {
        let ip = canonical(ip);
        // SECURITY: one critical section: between freeing the place and counting the failure,
        // another connection's `begin_attempt` would see room for one guess too many.
        let mut ips = self.lock();
        if let Some(record) = ips.get_mut(&ip) {
            record.in_flight = record.in_flight.saturating_sub(1);
        }
        failed && self.record_locked(&mut ips, ip, Instant::now())
    }

    /// Number of IPs blocked right now (metrics).
    pub fn blocked_count(&self) -> usize {
        let now = Instant::now();
        self.lock().values().filter(|r| r.is_blocked(now)).count()
    }

    /// Number of IPs tracked (for tests and status output).
    pub fn tracked(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Record>> {
        // A panic while holding the lock cannot leave a record half-updated in a way that
        // matters (worst case one failure too many or too few), so poisoning is ignored.
        self.ips.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl std::fmt::Debug for Throttle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Throttle")
            .field("policy", &self.policy)
            .field("tracked", &self.tracked())
            .finish()
    }
}

/// SECURITY: the map is bounded (an attacker with many addresses, e.g. IPv6, must not exhaust
/// memory). Drop everything expired; if still full, drop the least recently active entry.
fn make_room(ips: &mut HashMap<IpAddr, Record>, now: Instant, window: Duration) {
    ips.retain(|_, r| {
        r.forget_old(now, window);
        !r.is_expired()
    });
    if ips.len() < MAX_TRACKED_IPS {
        return;
    }
    let oldest = ips
        .iter()
        .min_by_key(|(_, r)| r.last_activity())
        .map(|(ip, _)| *ip);
    if let Some(ip) = oldest {
        ips.remove(&ip);
    }
}

/// SECURITY: `::ffff:a.b.c.d` is the IPv4 client a.b.c.d on a dual-stack socket; count it as
/// one address whichever way it connected.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use super::*;

    const A: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 168, 1, 10));

    #[test]
    fn unblock_lifts_a_block_and_the_safelist_is_never_blocked() {
        let policy = ThrottlePolicy {
            max_failures: 2,
            ..ThrottlePolicy::default()
        };
        let t = Throttle::new(policy).with_safelist(vec!["10.0.0.0/8".parse().unwrap()]);
        assert!(!t.record(A));
        assert!(t.record(A));
        assert!(t.is_blocked(A));
        assert!(t.unblock(A), "it was blocked");
        assert!(!t.is_blocked(A));
        assert!(!t.unblock(A), "not blocked any more");
        assert!(!t.record(A), "its failures were forgotten too");
        let lan = IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3));
        for _ in 0..10 {
            assert_eq!(t.begin_attempt(lan), Attempt::Go);
            assert!(!t.end_attempt(lan, true));
        }
        assert!(!t.is_blocked(lan));
        assert_eq!(t.tracked(), 1, "only A is tracked");
    }

    /// SECURITY (race seen in the suite): threads retrying on `Busy` must never get a check
    /// in between one check's end and its failure being counted.
    #[test]
    fn racing_failures_never_allow_an_extra_guess() {
        for round in 0..500 {
            let t = Throttle::new(ThrottlePolicy {
                max_failures: 3,
                ..ThrottlePolicy::default()
            });
            let checks = std::sync::atomic::AtomicU32::new(0);
            std::thread::scope(|scope| {
                for _ in 0..8 {
                    scope.spawn(|| {
                        for _ in 0..100_000 {
                            match t.begin_attempt(A) {
                                Attempt::Go => {
                                    checks.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                                    t.end_attempt(A, true);
                                }
                                Attempt::Busy => std::hint::spin_loop(),
                                Attempt::Blocked => return,
                            }
                        }
                    });
                }
            });
            assert_eq!(checks.into_inner(), 3, "round {round}");
        }
    }

    #[test]
    fn parallel_attempts_are_reserved_before_they_are_judged() {
        let t = Throttle::new(ThrottlePolicy {
            max_failures: 3,
            ..ThrottlePolicy::default()
        });
        for _ in 0..3 {
            assert_eq!(t.begin_attempt(A), Attempt::Go);
        }
        assert_eq!(
            t.begin_attempt(A),
            Attempt::Busy,
            "a 4th check in flight waits"
        );
        assert!(!t.end_attempt(A, false), "a success frees its place");
        assert_eq!(t.begin_attempt(A), Attempt::Go);
        assert!(!t.end_attempt(A, true));
        assert!(!t.end_attempt(A, true));
        assert!(t.end_attempt(A, true), "the 3rd failure starts the block");
        assert!(t.is_blocked(A));
        assert_eq!(t.begin_attempt(A), Attempt::Blocked);
    }
    const B: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 168, 1, 11));

    fn mins(n: u64) -> Duration {
        Duration::from_secs(n * 60)
    }

    #[test]
    fn five_failures_in_window_block_for_fifteen_minutes() {
        let t = Throttle::new(ThrottlePolicy::default());
        let t0 = Instant::now();
        for i in 0..4 {
            assert!(!t.record_at(A, t0 + mins(i)));
            assert!(!t.is_blocked_at(A, t0 + mins(i)));
        }
        assert!(t.record_at(A, t0 + mins(9)), "5th failure starts the block");
        assert!(t.is_blocked_at(A, t0 + mins(9)));
        assert!(!t.is_blocked_at(B, t0 + mins(9)), "other IPs unaffected");
        // Further failures while blocked neither re-announce nor extend the block.
        assert!(!t.record_at(A, t0 + mins(10)));
        assert!(t.is_blocked_at(A, t0 + mins(9) + mins(15) - Duration::from_secs(1)));
        assert!(!t.is_blocked_at(A, t0 + mins(9) + mins(15)));
        // After the block the count starts afresh.
        assert!(!t.record_at(A, t0 + mins(25)));
        assert!(!t.is_blocked_at(A, t0 + mins(25)));
    }

    #[test]
    fn failures_outside_the_window_are_forgotten() {
        let t = Throttle::new(ThrottlePolicy::default());
        let t0 = Instant::now();
        for i in 0..4 {
            assert!(!t.record_at(A, t0 + mins(i)));
        }
        // The first failure (t0) is now 10 minutes old: only 4 in the window.
        assert!(!t.record_at(A, t0 + mins(10)));
        assert!(!t.is_blocked_at(A, t0 + mins(10)));
        assert!(t.record_at(A, t0 + mins(10) + Duration::from_secs(30)));
    }

    #[test]
    fn expired_entries_are_pruned_and_mapped_ipv4_is_one_address() {
        let t = Throttle::new(ThrottlePolicy::default());
        let t0 = Instant::now();
        t.record_at(A, t0);
        assert_eq!(t.tracked(), 1);
        assert!(!t.is_blocked_at(A, t0 + mins(11)));
        assert_eq!(t.tracked(), 0, "checking an expired entry removes it");

        let mapped = IpAddr::V6(Ipv4Addr::new(192, 168, 1, 10).to_ipv6_mapped());
        for _ in 0..4 {
            t.record_at(A, t0);
        }
        assert!(t.record_at(mapped, t0));
        assert!(t.is_blocked_at(A, t0));
        assert!(!t.is_blocked_at(IpAddr::V6(Ipv6Addr::LOCALHOST), t0));
    }

    #[test]
    fn map_stays_bounded() {
        let policy = ThrottlePolicy::default();
        let t = Throttle::new(policy);
        let t0 = Instant::now();
        for i in 0..(MAX_TRACKED_IPS as u32 + 10) {
            t.record_at(IpAddr::V4(Ipv4Addr::from(i)), t0 + Duration::from_millis(1));
        }
        assert!(t.tracked() <= MAX_TRACKED_IPS);
        // A blocked IP survives pruning when the newcomer can take an expired slot instead.
        let late = t0 + mins(11);
        for _ in 0..5 {
            t.record_at(A, late);
        }
        t.record_at(B, late);
        assert!(t.is_blocked_at(A, late));
        assert!(
            t.tracked() <= 3,
            "expired entries were dropped: {}",
            t.tracked()
        );
    }

    #[test]
    fn wall_clock_api_works() {
        let t = Throttle::new(ThrottlePolicy {
            max_failures: 2,
            ..ThrottlePolicy::default()
        });
        assert!(!t.record(A));
        assert!(t.record(A));
        assert!(t.is_blocked(A));
        assert!(!t.is_blocked(B));
        assert_eq!(t.clone().tracked(), 1, "clones share the map");
    }
}
