//! A hostile tester's findings, each kept as a regression test: a second `serve` on a running
//! instance, slow and dripping clients, and floods from many 127.0.0.x sources that must not
//! lock a legitimate user out of the bounded worker pool.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, TcpStream};
use std::time::{Duration, Instant};

use crate::support::{
    ALICE, Raw, Served, TestServer, connect_from, listening, place, run_with_timeout, tree_hashes,
    wait_until,
};

fn loopback(a: u8, b: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, a, b))
}

/// The data/ files of an instance with their hashes (the lock file itself left out).
fn data_state(dir: &std::path::Path) -> std::collections::BTreeMap<std::path::PathBuf, String> {
    let mut state = tree_hashes(&dir.join("data"));
    state.retain(|path, _| !path.ends_with("serve.lock"));
    state
}

#[test]
fn a_second_serve_on_a_running_instance_changes_nothing_and_names_the_holder() {
    let dir = tempfile::tempdir().unwrap();
    let mut first = Served::start(dir.path(), &["--listen", "127.0.0.1:0"]);
    let addr = listening(&first.line());
    first.lines_until("created account admin");
    let before = data_state(dir.path());
    assert!(
        before.keys().any(|p| p.ends_with("metadata.jsonl")),
        "{before:?}"
    );

    // Another port, so binding succeeds: only the instance lock can stop it.
    let second = run_with_timeout(
        std::process::Command::new(env!("CARGO_BIN_EXE_ferroftp"))
            .args(["serve", "--listen", "127.0.0.1:0", "--dir"])
            .arg(dir.path()),
        20,
    );
    assert_eq!(second.code(), Some(1), "{}", second.stderr);
    let pid = first.child.id();
    assert_eq!(
        second.stderr.trim_end(),
        format!(
            "error: instance {} is in use by another ferroftp serve (PID {pid})",
            dir.path().display()
        )
    );
    assert!(second.stdout.is_empty(), "{}", second.stdout);
    assert_eq!(
        data_state(dir.path()),
        before,
        "the second serve touched data/"
    );

    // The first one still serves; after kill -9 the lock is gone with it.
    let mut raw = Raw::connect(addr);
    assert_eq!(raw.reply(), "220 ferroftp ready.\r\n");
    first.kill9();
    let mut third = Served::start(dir.path(), &["--listen", "127.0.0.1:0"]);
    listening(&third.line());
}

#[test]
fn a_serve_that_cannot_listen_creates_no_state() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let ran = run_with_timeout(
        std::process::Command::new(env!("CARGO_BIN_EXE_ferroftp"))
            .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--dir"])
            .arg(dir.path()),
        20,
    );
    assert_eq!(ran.code(), Some(1), "{}", ran.stderr);
    assert_eq!(
        ran.stderr.trim_end(),
        format!("error: cannot listen on 127.0.0.1:{port}: Address already in use (os error 98)")
    );
    for never in [
        "data/credentials.txt",
        "data/metadata.jsonl",
        "data/admin-password",
        "certs/cert.pem",
        "server_storage",
    ] {
        assert!(!dir.path().join(never).exists(), "{never} was created");
    }
}

/// Sends `chunk` every 500 ms on `raw` until a `421` comes back; returns it and how long.
fn drip_until_reply(raw: &mut Raw, chunk: &[u8], limit: Duration) -> (Option<String>, Duration) {
    raw.set_timeout(Duration::from_millis(500));
    let started = Instant::now();
    while started.elapsed() < limit {
        if raw.stream().write_all(chunk).is_err() {
            break;
        }
        if let Some(reply) = raw.try_reply()
            && reply.starts_with("421")
        {
            return (Some(reply), started.elapsed());
        }
    }
    (None, started.elapsed())
}

#[test]
fn the_login_deadline_is_absolute_whatever_the_client_sends() {
    let server = TestServer::start_with(|s| s.login_timeout = Duration::from_secs(3));
    let over_long = format!("{}\r\n", "X".repeat(4500));
    for chunk in [
        &b"N"[..],
        b"NOOP\r\n",
        b"SYST\r\n",
        b"REIN\r\n",
        over_long.as_bytes(),
    ] {
        let mut raw = server.raw();
        let (reply, after) = drip_until_reply(&mut raw, chunk, Duration::from_secs(20));
        assert_eq!(
            reply.as_deref(),
            Some("421 Login timeout.\r\n"),
            "dripping {chunk:?}"
        );
        assert!(after < Duration::from_secs(8), "{chunk:?}: {after:?}");
        raw.set_timeout(Duration::from_secs(5));
        assert!(raw.at_eof());
    }
}

#[test]
fn bytes_without_a_newline_reset_no_clock() {
    // Logged in, dripping: the idle clock runs (only whole lines reset it).
    let server = TestServer::start_with(|s| s.idle_timeout = Duration::from_secs(3));
    let mut raw = server.login(ALICE);
    let (reply, after) = drip_until_reply(&mut raw, b"N", Duration::from_secs(20));
    assert_eq!(reply.as_deref(), Some("421 Timeout.\r\n"));
    assert!(after < Duration::from_secs(8), "{after:?}");

    // With a long idle timeout, the line itself must be whole within line_timeout.
    let server = TestServer::start_with(|s| s.line_timeout = Duration::from_secs(3));
    let mut raw = server.login(ALICE);
    let (reply, after) = drip_until_reply(&mut raw, b"N", Duration::from_secs(20));
    assert_eq!(reply.as_deref(), Some("421 Command line timeout.\r\n"));
    assert!(after < Duration::from_secs(8), "{after:?}");

    // Whole lines keep an active session alive past idle_timeout.
    let server = TestServer::start_with(|s| s.idle_timeout = Duration::from_secs(2));
    let mut raw = server.login(ALICE);
    for _ in 0..8 {
        std::thread::sleep(Duration::from_millis(500));
        assert_eq!(raw.cmd("NOOP"), "200 NOOP ok.\r\n");
    }
}

/// Opens `count` connections to the server from `src`, reading nothing.
fn idle_sockets(server: &TestServer, src: IpAddr, count: usize) -> Vec<TcpStream> {
    (0..count)
        .filter_map(|_| connect_from(src, server.addr).ok())
        .collect()
}

/// Raises the open-file limit to its hard maximum: the flood below needs ~2,600 descriptors.
fn raise_fd_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid, exclusively borrowed rlimit.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        limit.rlim_cur = limit.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
    }
}

/// The goal of the slow-client work: with every worker held by 1,000 idle unauthenticated
/// sockets (40 source addresses, 25 each) and 256 drippers (8 addresses, 32 each, a byte every
/// 0.5 s), a legitimate user still logs in, lists and downloads at once, and no logged-in
/// session is dropped.
#[test]
fn a_flood_of_idle_and_dripping_clients_from_many_ips_locks_nobody_out() {
    raise_fd_limit();
    let server = TestServer::start();
    place(
        &server,
        "alice/report.txt",
        b"quarterly figures\n",
        "alice",
        false,
    );
    let mut logged_in: Vec<Raw> = (0..4).map(|_| server.login(ALICE)).collect();

    let mut idle = Vec::new();
    for ip in 0..40 {
        idle.extend(idle_sockets(&server, loopback(1, ip + 1), 25));
    }
    let mut drippers = Vec::new();
    for ip in 0..8 {
        drippers.extend(idle_sockets(&server, loopback(2, ip + 1), 32));
    }
    assert_eq!((idle.len(), drippers.len()), (1000, 256));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let dripping = {
        let stop = stop.clone();
        let socks: Vec<TcpStream> = drippers.iter().map(|s| s.try_clone().unwrap()).collect();
        std::thread::spawn(move || {
            for _ in 0..120 {
                if stop.load(std::sync::atomic::Ordering::SeqCst) {
                    break;
                }
                for mut s in &socks {
                    let _ = s.write(b"N");
                }
                std::thread::sleep(Duration::from_millis(500));
            }
        })
    };
    // Every worker is taken before the legitimate user arrives.
    assert!(
        wait_until(Duration::from_secs(30), || server.shared.active_sessions()
            >= 256),
        "{} sessions",
        server.shared.active_sessions()
    );
    std::thread::sleep(Duration::from_secs(1));

    let started = Instant::now();
    let mut user = Raw::connect(server.addr);
    assert_eq!(user.reply(), "220 ferroftp ready.\r\n");
    assert_eq!(
        user.cmd("USER alice"),
        "331 Please specify the password.\r\n"
    );
    assert_eq!(user.cmd("PASS alice-pw"), "230 Login successful.\r\n");
    let (_, listing, done) = user.listing("NLST");
    assert_eq!(
        (listing.as_str(), done.as_str()),
        ("report.txt\r\n", "226 Directory send OK.\r\n")
    );
    assert_eq!(user.cmd("TYPE I"), "200 Switching to Binary mode.\r\n");
    let (opening, body, done) = user.download("RETR report.txt");
    assert!(opening.starts_with("150 "), "{opening}");
    assert_eq!(
        (body.as_slice(), done.as_str()),
        (&b"quarterly figures\n"[..], "226 Transfer complete.\r\n")
    );
    let served_in = started.elapsed();
    eprintln!("legitimate login + NLST + RETR under the flood: {served_in:?}");
    assert!(served_in < Duration::from_secs(2), "{served_in:?}");

    // No logged-in session was dropped.
    for raw in &mut logged_in {
        assert_eq!(raw.cmd("NOOP"), "200 NOOP ok.\r\n");
    }
    // Every flood socket without a seat was told so with a 421 (busy, or too many).
    let mut told = 0;
    for s in idle.iter_mut().chain(drippers.iter_mut()) {
        s.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 256];
        let mut got = Vec::new();
        while let Ok(n) = s.read(&mut buf) {
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        let text = String::from_utf8_lossy(&got);
        if text.contains("421 Server busy, try again later.\r\n")
            || text.contains("421 Too many connections.\r\n")
        {
            told += 1;
        }
    }
    assert!(
        told >= 1256 - 256,
        "only {told} of 1256 flood sockets got a 421"
    );
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    dripping.join().unwrap();
}

#[test]
fn a_pool_full_of_logged_in_sessions_refuses_newcomers_and_evicts_nobody() {
    let server = TestServer::start_with(|s| s.max_sessions = 3);
    let mut sessions: Vec<Raw> = (0..3).map(|_| server.login(ALICE)).collect();
    let mut late = Raw::connect(server.addr);
    late.set_timeout(Duration::from_secs(5));
    assert_eq!(
        late.try_reply().as_deref(),
        Some("421 Too many connections.\r\n")
    );
    for raw in &mut sessions {
        assert_eq!(raw.cmd("NOOP"), "200 NOOP ok.\r\n");
    }
    // One waiting at the login prompt is the one that makes room.
    drop(sessions.pop());
    assert!(wait_until(Duration::from_secs(5), || server
        .shared
        .active_sessions()
        == 2));
    let mut waiting = server.raw();
    // A session is safe from eviction for its first second (time to log in).
    let mut early = Raw::connect(server.addr);
    early.set_timeout(Duration::from_secs(5));
    assert_eq!(
        early.try_reply().as_deref(),
        Some("421 Too many connections.\r\n")
    );
    std::thread::sleep(Duration::from_millis(1100));
    let mut newcomer = Raw::connect(server.addr);
    assert_eq!(newcomer.reply(), "220 ferroftp ready.\r\n");
    waiting.set_timeout(Duration::from_secs(5));
    assert_eq!(
        waiting.try_reply().as_deref(),
        Some("421 Server busy, try again later.\r\n")
    );
    assert!(waiting.at_eof());
    assert_eq!(
        newcomer.cmd("USER alice"),
        "331 Please specify the password.\r\n"
    );
    assert_eq!(newcomer.cmd("PASS alice-pw"), "230 Login successful.\r\n");
    for raw in &mut sessions {
        assert_eq!(raw.cmd("NOOP"), "200 NOOP ok.\r\n");
    }
}

/// Symlinks placed on disk inside the jail are judged by where they lead.
mod symlinks {
    use std::os::unix::fs::symlink;

    use super::*;
    use crate::support::{BOB, place_dir};

    fn server_with_links() -> TestServer {
        let server = TestServer::start();
        place(&server, "bob/secret.txt", b"bob's private\n", "bob", false);
        place(&server, "bob/shared.txt", b"bob's public\n", "bob", true);
        place(&server, "Public/open.txt", b"open\n", "bob", true);
        place_dir(&server, "Public/bobdir", "bob", true);
        // A directory link from alice's home into bob's, file links to bob's files, a link in
        // Public to bob's private file, and a link from alice's home to a public file.
        symlink("../bob", server.storage("alice/tobob")).unwrap();
        symlink("../bob/secret.txt", server.storage("alice/secret_link")).unwrap();
        symlink("../bob/secret.txt", server.storage("Public/leak.txt")).unwrap();
        symlink("../Public/open.txt", server.storage("alice/open_link")).unwrap();
        symlink("../Public/bobdir", server.storage("alice/bobdir_link")).unwrap();
        server
    }

    const ABSENT: &str = "550 No such file or directory.\r\n";

    #[test]
    fn a_link_into_another_home_is_as_absent_as_that_home() {
        let server = server_with_links();
        let mut alice = server.login(ALICE);
        assert_eq!(alice.cmd("CWD tobob"), ABSENT);
        assert_eq!(alice.cmd("SIZE tobob/shared.txt"), ABSENT);
        assert_eq!(alice.cmd("MLST tobob/secret.txt"), ABSENT);
        assert_eq!(alice.cmd("TYPE I"), "200 Switching to Binary mode.\r\n");
        let (opening, body, _) = alice.download("RETR tobob/shared.txt");
        assert_eq!((opening.as_str(), body.len()), (ABSENT, 0));
        let (opening, _) = alice.upload("STOR tobob/planted.txt", b"x");
        assert_eq!(opening, ABSENT);
        assert!(!server.storage("bob/planted.txt").exists());
        assert_eq!(alice.cmd("MKD tobob/newdir"), ABSENT);
        assert_eq!(alice.cmd("DELE tobob/shared.txt"), ABSENT);
        assert!(server.storage("bob/shared.txt").exists());
        // A link to bob's private file, in alice's home or in Public, leads to nothing.
        let (opening, _, _) = alice.download("RETR secret_link");
        assert_eq!(opening, ABSENT);
        let (opening, _, _) = alice.download("RETR /Public/leak.txt");
        assert_eq!(opening, ABSENT);
        assert_eq!(alice.cmd("SIZE /Public/leak.txt"), ABSENT);
        let (_, listing, _) = alice.listing("NLST");
        assert!(
            !listing.contains("tobob") && !listing.contains("secret_link"),
            "{listing}"
        );
        let (_, listing, _) = alice.listing("NLST /Public");
        assert!(!listing.contains("leak.txt"), "{listing}");
    }

    #[test]
    fn a_link_to_what_the_user_may_see_works_with_the_targets_owner() {
        let server = server_with_links();
        let mut alice = server.login(ALICE);
        assert_eq!(alice.cmd("TYPE I"), "200 Switching to Binary mode.\r\n");
        let (opening, body, done) = alice.download("RETR open_link");
        assert!(opening.starts_with("150 "), "{opening}");
        assert_eq!(
            (body.as_slice(), done.as_str()),
            (&b"open\n"[..], "226 Transfer complete.\r\n")
        );
        let facts = alice.cmd("MLST open_link");
        assert!(facts.contains("UNIX.owner=bob;"), "{facts}");
        assert!(facts.contains("perm=r;"), "{facts}");
        // The link itself is nobody's: alice may not delete or rename it, nor overwrite bob's
        // file through it.
        assert_eq!(alice.cmd("DELE open_link"), "550 Permission denied.\r\n");
        assert_eq!(alice.cmd("RNFR open_link"), "350 Ready for RNTO.\r\n");
        assert_eq!(alice.cmd("RNTO moved_link"), "550 Permission denied.\r\n");
        let (opening, _) = alice.upload("STOR open_link", b"overwritten");
        assert_eq!(opening, "550 Permission denied.\r\n");
        assert_eq!(
            std::fs::read(server.storage("Public/open.txt")).unwrap(),
            b"open\n"
        );
        // A directory link into Public: judged as Public/bobdir (bob's, public): alice may
        // create there (Public is rw), and her upload is recorded where it really is.
        let (opening, done) = alice.upload("STOR bobdir_link/mine.txt", b"alice's");
        assert!(opening.starts_with("150 "), "{opening}");
        assert_eq!(done, "226 Transfer complete.\r\n");
        let mut bob = server.login(BOB);
        let facts = bob.cmd("MLST /Public/bobdir/mine.txt");
        assert!(facts.contains("UNIX.owner=alice;"), "{facts}");
        assert_eq!(
            bob.cmd("DELE /Public/bobdir/mine.txt"),
            "550 Permission denied.\r\n"
        );
        // The admin sees bob's private file through the link, and may remove the link itself.
        let mut admin = server.login(crate::support::ADMIN);
        assert_eq!(admin.cmd("SIZE /Public/leak.txt"), "213 14\r\n");
        assert_eq!(
            admin.cmd("DELE /Public/leak.txt"),
            "250 Delete operation successful.\r\n"
        );
        assert!(
            server.storage("bob/secret.txt").exists(),
            "the target stays"
        );
    }
}

/// RNFR names a file; RNTO must judge what is under that name by then.
#[test]
fn rnto_judges_the_file_that_is_there_now_not_the_one_rnfr_saw() {
    let server = TestServer::start();
    let mut alice = server.login(ALICE);
    let mut alice_too = server.login(ALICE);
    let mut bob = server.login(crate::support::BOB);
    for s in [&mut alice, &mut bob] {
        assert_eq!(s.cmd("TYPE I"), "200 Switching to Binary mode.\r\n");
    }
    assert_eq!(
        alice.cmd("CWD /Public"),
        "250 Directory successfully changed.\r\n"
    );
    let (_, done) = alice.upload("STOR swap.txt", b"alice's");
    assert_eq!(done, "226 Transfer complete.\r\n");
    assert_eq!(alice.cmd("RNFR swap.txt"), "350 Ready for RNTO.\r\n");
    // Meanwhile the name changes hands.
    assert_eq!(
        alice_too.cmd("DELE /Public/swap.txt"),
        "250 Delete operation successful.\r\n"
    );
    assert_eq!(
        bob.cmd("CWD /Public"),
        "250 Directory successfully changed.\r\n"
    );
    let (_, done) = bob.upload("STOR swap.txt", b"bob's");
    assert_eq!(done, "226 Transfer complete.\r\n");
    assert_eq!(alice.cmd("RNTO taken.txt"), "550 Permission denied.\r\n");
    assert_eq!(
        std::fs::read(server.storage("Public/swap.txt")).unwrap(),
        b"bob's"
    );
    assert!(!server.storage("Public/taken.txt").exists());
    // A source that is gone by RNTO is simply missing.
    assert_eq!(bob.cmd("RNFR swap.txt"), "350 Ready for RNTO.\r\n");
    assert_eq!(
        alice_too.cmd("SITE VISIBILITY private /Public/swap.txt"),
        "550 Permission denied.\r\n"
    );
    std::fs::remove_file(server.storage("Public/swap.txt")).unwrap();
    assert_eq!(
        bob.cmd("RNTO gone.txt"),
        "550 No such file or directory.\r\n"
    );
}

/// A deleted account's files never pass to a new account of the same name, however fast it
/// is re-created and whoever deletes it.
mod recreated_accounts {
    use super::*;
    use crate::support::{ADMIN, BOB, run_with_input};

    fn user_cli(server: &TestServer, args: &[&str], stdin: Option<&str>) {
        let ran = run_with_input(
            std::process::Command::new(env!("CARGO_BIN_EXE_ferroftp"))
                .arg("user")
                .args(args)
                .arg("--dir")
                .arg(server.root()),
            stdin.map(str::as_bytes),
            20,
        );
        assert!(ran.success(), "user {args:?}: {}", ran.stderr);
    }

    fn bob_with_a_secret(server: &TestServer) -> Raw {
        std::fs::write(
            server.root().join("data/directories.txt"),
            "*: Public:rw, ~:rw\nbob: Public:rw, ~:rw, alice:ro\n",
        )
        .unwrap();
        let mut bob = server.login(BOB);
        assert_eq!(bob.cmd("TYPE I"), "200 Switching to Binary mode.\r\n");
        let (_, done) = bob.upload("STOR diary.txt", b"old bob's diary");
        assert_eq!(done, "226 Transfer complete.\r\n");
        bob
    }

    fn assert_new_bob_inherits_nothing(server: &TestServer) {
        let mut new_bob = Raw::connect(server.addr);
        new_bob.reply();
        // The new account's password: the old one no longer works.
        assert_eq!(
            new_bob.cmd("USER bob"),
            "331 Please specify the password.\r\n"
        );
        assert_eq!(new_bob.cmd("PASS new-bob-pw"), "230 Login successful.\r\n");
        assert_eq!(
            new_bob.cmd("SIZE diary.txt"),
            "550 No such file or directory.\r\n"
        );
        assert_eq!(new_bob.cmd("TYPE I"), "200 Switching to Binary mode.\r\n");
        let (opening, _, _) = new_bob.download("RETR /bob/diary.txt");
        assert_eq!(opening, "550 No such file or directory.\r\n");
        let (_, listing, _) = new_bob.listing("NLST /bob");
        assert!(!listing.contains("diary"), "{listing}");
        // Nor the old account's grants.
        assert_eq!(
            new_bob.cmd("CWD /alice"),
            "550 No such file or directory.\r\n"
        );
        assert!(server.storage("bob/diary.txt").exists(), "the files stay");
    }

    #[test]
    fn cli_delete_and_re_add_within_one_poll() {
        let server = TestServer::start();
        let mut old_bob = bob_with_a_secret(&server);
        user_cli(&server, &["del", "bob"], None);
        user_cli(
            &server,
            &["add", "bob", "--password-stdin"],
            Some("new-bob-pw\n"),
        );
        let directories =
            std::fs::read_to_string(server.root().join("data/directories.txt")).unwrap();
        assert!(!directories.contains("bob:"), "{directories}");
        // The old session ends: it is not the new bob's.
        old_bob.set_timeout(Duration::from_secs(5));
        assert_eq!(
            old_bob.try_reply().as_deref(),
            Some("421 Account disabled.\r\n")
        );
        assert_new_bob_inherits_nothing(&server);
    }

    #[test]
    fn site_deluser_and_adduser_back_to_back() {
        let server = TestServer::start();
        let _old_bob = bob_with_a_secret(&server);
        let mut admin = server.login(ADMIN);
        assert_eq!(
            admin.cmd("SITE DELUSER bob"),
            "200 User bob deleted; files kept.\r\n"
        );
        assert!(admin.cmd("SITE ADDUSER bob new-bob-pw").starts_with("200 "));
        assert_new_bob_inherits_nothing(&server);
    }

    #[test]
    fn deleted_and_re_added_while_the_server_was_down() {
        let mut server = TestServer::start();
        drop(bob_with_a_secret(&server));
        server.stop();
        user_cli(&server, &["del", "bob"], None);
        user_cli(
            &server,
            &["add", "bob", "--password-stdin"],
            Some("new-bob-pw\n"),
        );
        server.restart();
        assert_new_bob_inherits_nothing(&server);
        // And a second restart does not apply the deletion again to the new bob's files.
        let mut new_bob = server.login(("bob", "new-bob-pw"));
        assert_eq!(new_bob.cmd("TYPE I"), "200 Switching to Binary mode.\r\n");
        let (_, done) = new_bob.upload("STOR mine.txt", b"new bob's");
        assert_eq!(done, "226 Transfer complete.\r\n");
        drop(new_bob);
        server.restart();
        let mut new_bob = server.login(("bob", "new-bob-pw"));
        assert_eq!(new_bob.cmd("SIZE mine.txt"), "213 9\r\n");
        assert!(new_bob.cmd("MLST mine.txt").contains("UNIX.owner=bob;"));
    }
}

/// A tmpfs of `size` mounted on a fresh temp dir (root only, as CI runs); unmounted on drop.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> Option<SmallDisk> {
        let dir = tempfile::tempdir().unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(SmallDisk { dir })
    }

    /// Writes a filler file until the disk says it is full.
    fn fill(&self) {
        let mut filler = std::fs::File::create(self.dir.path().join("filler")).unwrap();
        let chunk = vec![0u8; 64 * 1024];
        for _ in 0..10_000 {
            if let Err(e) = filler.write_all(&chunk) {
                assert_eq!(e.raw_os_error(), Some(libc::ENOSPC), "{e}");
                break;
            }
        }
        for _ in 0..4096 {
            if filler.write_all(&[0u8]).is_err() {
                return;
            }
        }
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(self.dir.path())
            .status();
    }
}

fn user_cli(dir: &std::path::Path, args: &[&str], stdin: Option<&[u8]>) -> crate::support::Ran {
    crate::support::run_with_input(
        std::process::Command::new(env!("CARGO_BIN_EXE_ferroftp"))
            .arg("user")
            .args(args)
            .arg("--dir")
            .arg(dir),
        stdin,
        20,
    )
}

/// A full disk does not stop a restart: downloads are served, uploads answer 452, and a
/// deletion whose files cannot be handed to the tombstone yet keeps only that one name
/// from logging in.
#[test]
fn a_full_disk_does_not_stop_a_restart_and_downloads_still_work() {
    let Some(disk) = SmallDisk::mount("8m") else {
        panic!("this test mounts a tmpfs: run it as root (as ./scripts/test.sh in CI does)");
    };
    let dir = disk.dir.path();
    for (name, pw) in [("alice", &b"alice-pw\n"[..]), ("bob", b"bob-pw\n")] {
        let add = user_cli(dir, &["add", name, "--password-stdin"], Some(pw));
        assert!(add.success(), "{}", add.stderr);
    }
    let body = crate::support::pseudo_random(300_000, 7);
    {
        let mut served = Served::start(dir, &["--listen", "127.0.0.1:0"]);
        let addr = listening(&served.line());
        for user in ["alice", "bob"] {
            let mut ftp = suppaftp::FtpStream::connect(addr).unwrap();
            ftp.login(user, &format!("{user}-pw")).unwrap();
            ftp.transfer_type(suppaftp::types::FileType::Binary)
                .unwrap();
            ftp.put_file("keep.bin", &mut body.as_slice()).unwrap();
            let _ = ftp.quit();
        }
        served.sigterm();
        assert!(served.wait_exit(20).success());
    }
    // Deleted while no server runs; then the disk fills up, the journal's last page full
    // (blank lines are skipped at replay), so no record can be appended.
    assert!(user_cli(dir, &["del", "bob"], None).success());
    let journal = dir.join("data/metadata.jsonl");
    let len = std::fs::metadata(&journal).unwrap().len();
    let pad = (4096 - len % 4096) % 4096;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&journal)
        .unwrap();
    f.write_all(&vec![b'\n'; pad as usize]).unwrap();
    drop(f);
    disk.fill();

    let mut served = Served::start(dir, &["--listen", "127.0.0.1:0"]);
    let addr = listening(&served.line());
    let mut raw = Raw::connect(addr);
    assert_eq!(raw.reply(), "220 ferroftp ready.\r\n");
    assert_eq!(
        raw.cmd("USER alice"),
        "331 Please specify the password.\r\n"
    );
    assert_eq!(raw.cmd("PASS alice-pw"), "230 Login successful.\r\n");
    assert_eq!(raw.cmd("TYPE I"), "200 Switching to Binary mode.\r\n");
    let (opening, got, done) = raw.download("RETR keep.bin");
    assert!(opening.starts_with("150 "), "{opening}");
    assert_eq!(
        (got == body, done.as_str()),
        (true, "226 Transfer complete.\r\n")
    );
    let (_, done) = raw.upload("STOR more.bin", &vec![1u8; 200_000]);
    assert_eq!(done, "452 Insufficient storage space.\r\n");
    // bob's deletion waits for space (nobody logs in as bob meanwhile); it did not stop
    // the start.
    let mut bob = Raw::connect(addr);
    bob.reply();
    assert_eq!(bob.cmd("USER bob"), "331 Please specify the password.\r\n");
    assert_eq!(bob.cmd("PASS bob-pw"), "530 Login incorrect.\r\n");
    let stderr = served.stderr();
    let full: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("not compacted"))
        .collect();
    assert_eq!(full.len(), 1, "one clear warning line:\n{stderr}");
    assert!(
        full[0].contains(" WARN ") && full[0].contains("disk full"),
        "{stderr}"
    );
    let held: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("nobody logs in as bob"))
        .collect();
    assert_eq!(held.len(), 1, "said once:\n{stderr}");
}

#[test]
fn a_deletion_that_cannot_be_logged_does_not_happen() {
    let dir = tempfile::tempdir().unwrap();
    assert!(
        user_cli(
            dir.path(),
            &["add", "alice", "--password-stdin"],
            Some(b"pw\n")
        )
        .success()
    );
    std::fs::create_dir(dir.path().join("data/deleted-accounts.txt")).unwrap();
    let del = user_cli(dir.path(), &["del", "alice"], None);
    assert_eq!(del.code(), Some(1));
    assert_eq!(del.stderr.lines().count(), 1, "{}", del.stderr);
    let list = user_cli(dir.path(), &["list"], None);
    assert!(list.stdout.contains("alice"), "{}", list.stdout);
}

/// A passive data connection from another address than the control connection's is
/// refused; the real client's connection still carries the transfer.
#[test]
fn a_data_connection_from_another_address_is_refused() {
    let server = TestServer::start();
    place(&server, "alice/f.txt", b"for alice only\n", "alice", true);
    let mut alice = server.login(ALICE);
    assert_eq!(alice.cmd("TYPE I"), "200 Switching to Binary mode.\r\n");
    let data_addr = alice.epsv_addr();
    // The thief is first in the queue of the passive port.
    let mut thief = connect_from(loopback(9, 9), data_addr).unwrap();
    thief
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut data = TcpStream::connect(data_addr).unwrap();
    assert!(alice.cmd("RETR f.txt").starts_with("150 "));
    let mut stolen = Vec::new();
    let _ = thief.read_to_end(&mut stolen);
    assert!(stolen.is_empty(), "the thief got {stolen:?}");
    let mut body = Vec::new();
    data.read_to_end(&mut body).unwrap();
    assert_eq!(body, b"for alice only\n");
    assert_eq!(alice.reply(), "226 Transfer complete.\r\n");
}

/// One address churning connections (never two open at once) cannot evict every login in
/// progress: a session is safe for its first second, and the address holding the most
/// waiting sessions loses first.
#[test]
fn one_address_churning_connections_cannot_evict_every_login() {
    let server = TestServer::start_with(|s| s.max_sessions = 4);
    let mut logged_in: Vec<Raw> = (0..3).map(|_| server.login(ALICE)).collect();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let churn = {
        let (stop, addr) = (stop.clone(), server.addr);
        std::thread::spawn(move || {
            let started = Instant::now();
            while !stop.load(std::sync::atomic::Ordering::SeqCst)
                && started.elapsed() < Duration::from_secs(30)
            {
                drop(connect_from(loopback(7, 7), addr));
            }
        })
    };
    for _ in 0..5 {
        let mut tries = 0;
        loop {
            tries += 1;
            assert!(
                tries <= 40,
                "a legitimate login never got through the churn"
            );
            let mut raw = Raw::connect(server.addr);
            raw.set_timeout(Duration::from_secs(5));
            if raw.try_reply().as_deref() != Some("220 ferroftp ready.\r\n") {
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
            raw.send("USER bob");
            raw.send("PASS bob-pw");
            let replies = (raw.try_reply(), raw.try_reply());
            assert_eq!(
                (replies.0.as_deref(), replies.1.as_deref()),
                (
                    Some("331 Please specify the password.\r\n"),
                    Some("230 Login successful.\r\n")
                ),
                "a seated login is not evicted"
            );
            break;
        }
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    churn.join().unwrap();
    for raw in &mut logged_in {
        assert_eq!(raw.cmd("NOOP"), "200 NOOP ok.\r\n");
    }
}

/// APPE (or REST 0 + STOR) of a new name is published with its record, as STOR is: a
/// private upload is never visible, ownerless and public, while its data flows.
#[test]
fn an_append_to_a_new_name_is_invisible_until_published() {
    let server = TestServer::start();
    let mut alice = server.login(ALICE);
    let mut bob = server.login(crate::support::BOB);
    assert_eq!(alice.cmd("TYPE I"), "200 Switching to Binary mode.\r\n");
    assert!(alice.cmd("SITE VISIBILITY private").starts_with("200 "));
    let mut data = alice.epsv();
    assert!(alice.cmd("APPE /Public/diary.txt").starts_with("150 "));
    data.write_all(b"dear diary").unwrap();
    data.flush().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let (_, listing, _) = bob.listing("NLST /Public");
    assert!(!listing.contains("diary"), "visible mid-upload: {listing}");
    assert_eq!(
        bob.cmd("SIZE /Public/diary.txt"),
        "550 No such file or directory.\r\n"
    );
    drop(data);
    assert_eq!(alice.reply(), "226 Transfer complete.\r\n");
    assert_eq!(
        bob.cmd("SIZE /Public/diary.txt"),
        "550 No such file or directory.\r\n"
    );
    assert_eq!(alice.cmd("SIZE /Public/diary.txt"), "213 10\r\n");
}
