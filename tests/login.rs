//! Login and session lifetime: equal failures, bans, the brute-force block, pool and per-IP
//! limits, login/idle timeouts and shutdown.

use std::time::{Duration, Instant};

use ferroftp::auth::{AccountState, ThrottlePolicy};

use crate::support::{ALICE, BOB, Raw, TestServer, wait_until};

const LOGIN_INCORRECT: &str = "530 Login incorrect.\r\n";

fn try_login(raw: &mut Raw, user: &str, pass: &str) -> String {
    assert_eq!(
        raw.cmd(&format!("USER {user}")),
        "331 Please specify the password.\r\n"
    );
    raw.cmd(&format!("PASS {pass}"))
}

/// A fresh connection's first line, read with a short timeout.
fn first_line(server: &TestServer) -> Option<String> {
    let mut raw = Raw::connect(server.addr);
    raw.set_timeout(Duration::from_secs(5));
    raw.try_reply()
}

#[test]
fn unknown_user_and_wrong_password_look_the_same() {
    let server = TestServer::start();
    let mut raw = server.raw();
    assert_eq!(try_login(&mut raw, "nosuchuser", "x"), LOGIN_INCORRECT);
    assert_eq!(try_login(&mut raw, "alice", "wrong"), LOGIN_INCORRECT);
    assert_eq!(try_login(&mut raw, "Alice", "alice-pw"), LOGIN_INCORRECT);
    assert_eq!(try_login(&mut raw, "alice", ""), LOGIN_INCORRECT);
    // The same connection may try again.
    assert_eq!(
        try_login(&mut raw, "alice", "alice-pw"),
        "230 Login successful.\r\n"
    );

    let mut ftp = suppaftp::FtpStream::connect(server.addr).unwrap();
    match ftp.login("ghost", "x").unwrap_err() {
        suppaftp::FtpError::UnexpectedResponse(r) => {
            assert_eq!(r.status.code(), 530);
            assert_eq!(r.as_string().unwrap(), "530 Login incorrect.");
        }
        other => panic!("{other:?}"),
    }
}

/// SECURITY: both failures run one bcrypt of the account cost, so timing tells nothing.
/// At cost 8 one bcrypt takes well over 2 ms on any machine, while a login that skips it
/// takes a fraction of a millisecond. Samples alternate between the two cases (so load hits
/// both alike) and only medians are compared, with a factor of 10 of slack: load can only
/// make the two closer to noise, never make a real bcrypt look free, so this cannot flake,
/// yet an unknown user answered without bcrypt is ~100 times faster and fails it.
#[test]
fn unknown_user_costs_as_much_as_wrong_password() {
    let server = TestServer::start_with(|s| {
        s.bcrypt_cost = 8;
        s.throttle.max_failures = 1000;
    });
    // Accounts created by the support code used cost 4: give alice a hash of the server cost.
    server
        .shared
        .accounts
        .set_password("alice", &ferroftp::auth::Password::new("alice-pw".into()))
        .unwrap();
    let mut raw = server.raw();
    let mut time = |user: &str| {
        raw.cmd(&format!("USER {user}"));
        let t = Instant::now();
        assert_eq!(raw.cmd("PASS wrong"), LOGIN_INCORRECT);
        t.elapsed()
    };
    // One of each first: the server builds its dummy hash once, on first use.
    time("nobody-here");
    time("alice");
    let (mut known, mut unknown) = (Vec::new(), Vec::new());
    for _ in 0..7 {
        known.push(time("alice"));
        unknown.push(time("nobody-here"));
    }
    known.sort();
    unknown.sort();
    let (known, unknown) = (known[3], unknown[3]);
    assert!(
        known >= Duration::from_millis(2),
        "a cost-8 bcrypt took only {known:?}: the comparison below would mean nothing"
    );
    assert!(
        unknown * 10 >= known,
        "median wrong-password {known:?} vs unknown-user {unknown:?}: unknown users skip bcrypt"
    );
}

#[test]
fn banned_user_gets_530() {
    let server = TestServer::start();
    server
        .shared
        .accounts
        .set_state("bob", AccountState::Banned)
        .unwrap();
    let mut raw = server.raw();
    assert_eq!(try_login(&mut raw, "bob", "bob-pw"), LOGIN_INCORRECT);
    server
        .shared
        .accounts
        .set_state("bob", AccountState::Active)
        .unwrap();
    assert_eq!(
        try_login(&mut raw, "bob", "bob-pw"),
        "230 Login successful.\r\n"
    );
}

/// SPEC: BAN ends that user's open sessions within 2 seconds with 421; others go on.
#[test]
fn banning_a_logged_in_user_ends_their_session() {
    let server = TestServer::start();
    let mut bob = server.login(BOB);
    let mut alice = server.login(ALICE);
    let started = Instant::now();
    server
        .shared
        .accounts
        .set_state("bob", AccountState::Banned)
        .unwrap();
    bob.set_timeout(Duration::from_secs(5));
    assert_eq!(
        bob.try_reply().as_deref(),
        Some("421 Account disabled.\r\n")
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(bob.at_eof());
    assert_eq!(alice.cmd("NOOP"), "200 NOOP ok.\r\n");
    // A banned user's next command is refused too, even if it arrives before the poll.
    let mut bob2 = server.raw();
    assert_eq!(try_login(&mut bob2, "bob", "bob-pw"), LOGIN_INCORRECT);
}

#[test]
fn deleting_a_logged_in_user_ends_their_session() {
    let server = TestServer::start();
    let mut bob = server.login(BOB);
    server.shared.accounts.remove("bob").unwrap();
    bob.set_timeout(Duration::from_secs(5));
    assert_eq!(
        bob.try_reply().as_deref(),
        Some("421 Account disabled.\r\n")
    );
}

/// The brute-force block: `max_failures` failures, then the IP gets 421 at connect.
#[test]
fn repeated_failures_block_the_ip() {
    let server = TestServer::start_with(|s| {
        s.throttle = ThrottlePolicy {
            max_failures: 3,
            window: Duration::from_secs(60),
            block: Duration::from_secs(60),
        }
    });
    let mut raw = server.raw();
    for _ in 0..3 {
        assert_eq!(try_login(&mut raw, "alice", "wrong"), LOGIN_INCORRECT);
    }
    // Even the right password is refused now, and the connection ends.
    assert_eq!(
        try_login(&mut raw, "alice", "alice-pw"),
        "421 Too many failed logins; try again later.\r\n"
    );
    assert!(raw.at_eof());
    assert_eq!(
        first_line(&server).as_deref(),
        Some("421 Too many failed logins from your address; try again later.\r\n")
    );
}

#[test]
fn failures_below_the_limit_do_not_block() {
    let server = TestServer::start_with(|s| s.throttle.max_failures = 3);
    let mut raw = server.raw();
    for _ in 0..2 {
        assert_eq!(try_login(&mut raw, "alice", "wrong"), LOGIN_INCORRECT);
    }
    assert_eq!(
        try_login(&mut raw, "alice", "alice-pw"),
        "230 Login successful.\r\n"
    );
    assert_eq!(
        first_line(&server).as_deref(),
        Some("220 ferroftp ready.\r\n")
    );
}

/// Pool exhaustion: beyond `max_sessions` a connection reads 421 at once; a freed place serves
/// the next one.
#[test]
fn pool_exhaustion_answers_421_then_recovers() {
    let server = TestServer::start_with(|s| s.max_sessions = 2);
    let mut one = server.login(ALICE);
    let _two = server.login(BOB);
    let started = Instant::now();
    let mut third = Raw::connect(server.addr);
    third.set_timeout(Duration::from_secs(5));
    assert_eq!(
        third.try_reply().as_deref(),
        Some("421 Too many connections.\r\n")
    );
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert!(third.at_eof());
    assert_eq!(one.cmd("QUIT"), "221 Goodbye.\r\n");
    let mut served = None;
    let deadline = Instant::now() + Duration::from_secs(5);
    while served.is_none() && Instant::now() < deadline {
        match first_line(&server) {
            Some(l) if l == "220 ferroftp ready.\r\n" => served = Some(l),
            _ => std::thread::sleep(Duration::from_millis(50)),
        }
    }
    assert_eq!(served.as_deref(), Some("220 ferroftp ready.\r\n"));
}

#[test]
fn per_ip_limit_answers_421() {
    let server = TestServer::start_with(|s| s.max_per_ip = 1);
    let _one = server.login(ALICE);
    assert_eq!(
        first_line(&server).as_deref(),
        Some("421 Too many connections from your address.\r\n")
    );
}

#[test]
fn login_timeout_answers_421() {
    let server = TestServer::start_with(|s| s.login_timeout = Duration::from_secs(1));
    let mut raw = server.raw();
    raw.set_timeout(Duration::from_secs(5));
    let started = Instant::now();
    assert_eq!(raw.try_reply().as_deref(), Some("421 Login timeout.\r\n"));
    let waited = started.elapsed();
    assert!(waited < Duration::from_secs(3), "{waited:?}");
    assert!(raw.at_eof());
    // Commands other than a login do not extend the deadline.
    let mut raw = server.raw();
    raw.set_timeout(Duration::from_secs(5));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(raw.cmd("NOOP"), "200 NOOP ok.\r\n");
    assert_eq!(raw.try_reply().as_deref(), Some("421 Login timeout.\r\n"));
}

#[test]
fn idle_timeout_answers_421() {
    let server = TestServer::start_with(|s| s.idle_timeout = Duration::from_secs(1));
    let mut raw = server.login(ALICE);
    raw.set_timeout(Duration::from_secs(5));
    let started = Instant::now();
    assert_eq!(raw.try_reply().as_deref(), Some("421 Timeout.\r\n"));
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(raw.at_eof());
}

#[test]
fn shutdown_sends_421_to_idle_sessions() {
    let mut server = TestServer::start();
    let mut logged_in = server.login(ALICE);
    let mut fresh = server.raw();
    logged_in.set_timeout(Duration::from_secs(5));
    fresh.set_timeout(Duration::from_secs(5));
    let started = Instant::now();
    server.stop();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    for raw in [&mut logged_in, &mut fresh] {
        assert_eq!(
            raw.try_reply().as_deref(),
            Some("421 Server shutting down.\r\n")
        );
        assert!(raw.at_eof());
    }
    assert_eq!(server.shared.active_sessions(), 0);
    // Nobody is accepted any more.
    assert!(wait_until(Duration::from_secs(2), || {
        std::net::TcpStream::connect(server.addr).is_err()
    }));
}

/// A session busy in a transfer is not idle: the idle clock restarts when the transfer ends,
/// so a transfer longer than `idle_timeout` must not be followed by `421 Timeout.`.
#[test]
fn idle_timeout_counts_from_the_end_of_a_transfer() {
    let server = TestServer::start_with(|s| s.idle_timeout = Duration::from_secs(2));
    let mut raw = server.login(ALICE);
    raw.cmd("TYPE I");
    let mut data = raw.epsv();
    assert!(raw.cmd("STOR slow.bin").starts_with("150 "));
    for _ in 0..3 {
        std::io::Write::write_all(&mut data, &[0u8; 1000]).unwrap();
        std::thread::sleep(Duration::from_millis(1100));
    }
    drop(data);
    assert_eq!(raw.reply(), "226 Transfer complete.\r\n");
    // Quiet for 1.5 s (< idle_timeout) after the transfer; the server polls every second.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(raw.cmd("NOOP"), "200 NOOP ok.\r\n");
    assert_eq!(
        std::fs::metadata(server.storage("alice/slow.bin"))
            .unwrap()
            .len(),
        3000
    );
}

/// SECURITY (review): many connections sending a wrong PASS at the same moment get no more
/// guesses than one connection would: at most `max_failures` are checked, the rest get 421.
#[test]
fn parallel_guesses_are_limited_like_serial_ones() {
    let server = TestServer::start_with(|s| s.throttle.max_failures = 5);
    let mut conns: Vec<_> = (0..20)
        .map(|_| {
            let mut raw = server.raw();
            assert!(raw.cmd("USER alice").starts_with("331 "));
            raw
        })
        .collect();
    for raw in &mut conns {
        raw.send("PASS wrong");
    }
    let replies: Vec<String> = conns.iter_mut().map(|raw| raw.reply()).collect();
    let incorrect = replies
        .iter()
        .filter(|r| r.as_str() == "530 Login incorrect.\r\n")
        .count();
    let refused = replies.iter().filter(|r| r.starts_with("421 ")).count();
    assert_eq!(incorrect, 5, "{replies:?}");
    assert_eq!(refused, 15, "{replies:?}");
}

/// The verified-password cache (SPEC "Access model"): a password bcrypt accepted lets the
/// account's next logins skip bcrypt; a wrong one always costs a check and counts; any change
/// of the account, a ban and the TTL void it.
mod password_cache {
    use super::*;
    use ferroftp::auth::Password;

    fn checks(server: &TestServer) -> u64 {
        server.shared.accounts.bcrypt_checks()
    }

    #[test]
    fn a_verified_password_skips_bcrypt_and_a_wrong_one_never_does() {
        let server = TestServer::start();
        drop(server.login(ALICE));
        let after_first = checks(&server);
        for _ in 0..5 {
            drop(server.login(ALICE));
        }
        assert_eq!(checks(&server), after_first, "cached logins run no bcrypt");
        let mut raw = server.raw();
        assert_eq!(try_login(&mut raw, "alice", "wrong"), LOGIN_INCORRECT);
        assert_eq!(
            checks(&server),
            after_first + 1,
            "a wrong password always runs bcrypt"
        );
        // A new password voids the old one at once.
        server
            .shared
            .accounts
            .set_password("alice", &Password::new("new-pw".into()))
            .unwrap();
        let mut raw = server.raw();
        assert_eq!(try_login(&mut raw, "alice", "alice-pw"), LOGIN_INCORRECT);
        assert_eq!(
            try_login(&mut raw, "alice", "new-pw"),
            "230 Login successful.\r\n"
        );
        // A ban voids it too.
        server
            .shared
            .accounts
            .set_state("alice", AccountState::Banned)
            .unwrap();
        let mut raw = server.raw();
        assert_eq!(try_login(&mut raw, "alice", "new-pw"), LOGIN_INCORRECT);
    }

    #[test]
    fn entries_expire_after_the_ttl_and_the_cache_can_be_turned_off() {
        let server = TestServer::start_with(|s| s.password_cache_ttl = Duration::from_secs(1));
        drop(server.login(ALICE));
        let first = checks(&server);
        std::thread::sleep(Duration::from_millis(1200));
        drop(server.login(ALICE));
        assert_eq!(checks(&server), first + 1, "expired: bcrypt again");
        let server = TestServer::start_with(|s| s.password_cache = false);
        drop(server.login(ALICE));
        drop(server.login(ALICE));
        assert_eq!(checks(&server), 2);
    }

    /// 60 simultaneous correct logins from one IP: all get in (none refused for load, none
    /// told of failed logins that did not happen), at the cost of very few bcrypt checks.
    #[test]
    fn a_burst_of_correct_logins_from_one_ip_all_get_in() {
        let server = TestServer::start_with(|s| s.max_per_ip = 100);
        let addr = server.addr;
        let logins: Vec<_> = (0..60)
            .map(|_| {
                std::thread::spawn(move || {
                    let mut raw = Raw::connect(addr);
                    raw.set_timeout(Duration::from_secs(30));
                    let greeting = raw.try_reply();
                    assert_eq!(greeting.as_deref(), Some("220 ferroftp ready.\r\n"));
                    try_login(&mut raw, "bob", "bob-pw")
                })
            })
            .collect();
        for login in logins {
            assert_eq!(login.join().unwrap(), "230 Login successful.\r\n");
        }
        assert!(checks(&server) <= 5, "{} bcrypt checks", checks(&server));
    }
}
