//! Per-user quotas and bandwidth limits (`data/limits.txt`, `ferroftp user limit`): 552 on an
//! exceeded quota with nothing half-written (STOR, APPE, REST+STOR, parallel uploads), the
//! `*` default, hot reloads, and rates shared by a user's transfers. Rates are checked as
//! lower bounds only (a throttle can only make a transfer slower than it would be).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::support::{
    ADMIN, ALICE, BOB, Raw, TestServer, dir_names, pseudo_random, run_with_timeout, sha256,
    wait_until,
};

const K: usize = 1024;

/// Writes `text` as limits.txt and has the running server read it now.
fn set_limits(server: &TestServer, text: &str) {
    std::fs::write(server.root().join("data/limits.txt"), text).unwrap();
    server.shared.limits.reload_if_changed();
}

fn limited(text: &str) -> TestServer {
    let server = TestServer::start();
    set_limits(&server, text);
    server
}

/// STOR/APPE of `body` that tolerates the server closing the data connection early (a quota
/// stop): (150 line, final reply).
fn send(raw: &mut Raw, verb: &str, body: &[u8]) -> (String, String) {
    send_from(raw, 0, verb, body)
}

/// As `send`, after `REST offset` (when not 0) sent between EPSV and the verb.
fn send_from(raw: &mut Raw, offset: usize, verb: &str, body: &[u8]) -> (String, String) {
    let mut data = raw.epsv();
    if offset > 0 {
        let rest = raw.cmd(&format!("REST {offset}"));
        assert!(rest.starts_with("350 "), "{rest}");
    }
    let opening = raw.cmd(verb);
    if !opening.starts_with("150") {
        return (opening, String::new());
    }
    let _ = data.write_all(body);
    let _ = data.shutdown(std::net::Shutdown::Write);
    drop(data);
    (opening, raw.reply())
}

/// Files in alice's home, upload temp files included.
fn alice_files(server: &TestServer) -> Vec<String> {
    dir_names(&server.storage("alice"))
}

fn quota_line(raw: &mut Raw) -> String {
    raw.cmd("SITE QUOTA")
}

#[test]
fn a_byte_quota_answers_552_mid_upload_and_keeps_nothing() {
    let server = limited("alice: quota=100K\n");
    let mut alice = server.login(ALICE);
    alice.cmd("TYPE I");
    let body = pseudo_random(60 * K, 1);
    let (opening, done) = send(&mut alice, "STOR one", &body);
    assert!(opening.starts_with("150 "), "{opening}");
    assert_eq!(done, "226 Transfer complete.\r\n");
    let (opening, done) = send(&mut alice, "STOR two", &body);
    assert!(opening.starts_with("150 "), "{opening}");
    assert_eq!(
        done,
        "552 Quota exceeded: not enough room left; the upload was not kept.\r\n"
    );
    assert_eq!(alice_files(&server), ["one"], "no half file, no temp file");
    assert_eq!(
        quota_line(&mut alice),
        "200 alice: 61440 bytes in 1 files; quota=100K files=none upload_rate=none download_rate=none\r\n"
    );
    // The session goes on, and deleting makes room again.
    assert_eq!(
        alice.cmd("DELE one"),
        "250 Delete operation successful.\r\n"
    );
    let (_, done) = send(&mut alice, "STOR two", &body);
    assert_eq!(done, "226 Transfer complete.\r\n");
    assert_eq!(std::fs::read(server.storage("alice/two")).unwrap(), body);
}

#[test]
fn a_file_quota_refuses_before_the_data_connection() {
    let server = limited("*: files=2\n");
    let mut alice = server.login(ALICE);
    for name in ["a", "b"] {
        let (_, done) = send(&mut alice, &format!("STOR {name}"), b"x");
        assert_eq!(done, "226 Transfer complete.\r\n");
    }
    let (reply, _) = send(&mut alice, "STOR c", b"x");
    assert_eq!(reply, "552 Quota exceeded: no more files allowed.\r\n");
    assert_eq!(alice_files(&server), ["a", "b"]);
    // Overwriting one of them adds no file; STOU and APPE of a new name do.
    let (_, done) = send(&mut alice, "STOR a", b"again");
    assert_eq!(done, "226 Transfer complete.\r\n");
    let (reply, _) = send(&mut alice, "APPE d", b"x");
    assert!(reply.starts_with("552 "), "{reply}");
    let (reply, _) = send(&mut alice, "STOU", b"x");
    assert!(reply.starts_with("552 "), "{reply}");
    // Public counts too: a quota is what the user owns, wherever it is.
    let (reply, _) = send(&mut alice, "STOR /Public/p", b"x");
    assert!(reply.starts_with("552 "), "{reply}");
    // bob has the same default line, and his own count.
    let mut bob = server.login(BOB);
    let (_, done) = send(&mut bob, "STOR /Public/p", b"x");
    assert_eq!(done, "226 Transfer complete.\r\n");
}

#[test]
fn appe_and_rest_over_the_quota_leave_the_file_as_it_was() {
    let server = limited("alice: quota=100K\n");
    let mut alice = server.login(ALICE);
    alice.cmd("TYPE I");
    let first = pseudo_random(50 * K, 2);
    let (_, done) = send(&mut alice, "STOR f", &first);
    assert_eq!(done, "226 Transfer complete.\r\n");
    let (_, done) = send(&mut alice, "APPE f", &pseudo_random(60 * K, 3));
    assert!(done.starts_with("552 "), "{done}");
    assert_eq!(
        sha256(&std::fs::read(server.storage("alice/f")).unwrap()),
        sha256(&first)
    );
    // REST 20K + 90K would end at 110K: cut back to the offset, nothing of the refused part.
    let (_, done) = send_from(&mut alice, 20 * K, "STOR f", &pseudo_random(90 * K, 4));
    assert!(done.starts_with("552 "), "{done}");
    assert_eq!(
        std::fs::read(server.storage("alice/f")).unwrap(),
        &first[..20 * K]
    );
    assert!(quota_line(&mut alice).starts_with("200 alice: 20480 bytes in 1 files;"));
    // Within the quota both work.
    let tail = pseudo_random(30 * K, 5);
    let (_, done) = send(&mut alice, "APPE f", &tail);
    assert_eq!(done, "226 Transfer complete.\r\n");
    let on_disk = std::fs::read(server.storage("alice/f")).unwrap();
    assert_eq!(on_disk.len(), 50 * K);
    assert_eq!(&on_disk[20 * K..], &tail[..]);
}

#[test]
fn replacing_ones_own_file_needs_room_only_for_the_difference() {
    let server = limited("alice: quota=100K\n");
    let mut alice = server.login(ALICE);
    alice.cmd("TYPE I");
    let full = pseudo_random(100 * K, 6);
    let (_, done) = send(&mut alice, "STOR f", &full);
    assert_eq!(done, "226 Transfer complete.\r\n");
    // At the quota: a new file has no room, a same-size replacement has.
    let (reply, _) = send(&mut alice, "STOR g", b"x");
    assert_eq!(
        reply,
        "552 Quota exceeded: not enough room left; the upload was not kept.\r\n"
    );
    let same = pseudo_random(100 * K, 7);
    let (_, done) = send(&mut alice, "STOR f", &same);
    assert_eq!(done, "226 Transfer complete.\r\n");
    let (_, done) = send(&mut alice, "STOR f", &pseudo_random(100 * K + 1, 8));
    assert!(done.starts_with("552 "), "{done}");
    assert_eq!(std::fs::read(server.storage("alice/f")).unwrap(), same);
    assert_eq!(alice_files(&server), ["f"]);
}

#[test]
fn parallel_uploads_of_one_user_cannot_pass_the_quota_together() {
    let server = limited("alice: quota=100K\n");
    let mut sessions: Vec<(Raw, TcpStream)> = Vec::new();
    for name in ["p1", "p2"] {
        let mut raw = server.login(ALICE);
        raw.cmd("TYPE I");
        let data = raw.epsv();
        assert!(raw.cmd(&format!("STOR {name}")).starts_with("150 "));
        sessions.push((raw, data));
    }
    // 60K each, in turns of 20K: 120K together, more than the quota, less than it alone.
    let piece = pseudo_random(20 * K, 9);
    for _ in 0..3 {
        for (_, data) in &mut sessions {
            let _ = data.write_all(&piece);
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let mut replies = Vec::new();
    for (mut raw, data) in sessions {
        let _ = data.shutdown(std::net::Shutdown::Write);
        drop(data);
        replies.push(raw.reply());
    }
    // The first to pass the quota is refused (and gives its room back at once); the other
    // fits.
    replies.sort();
    assert_eq!(
        replies,
        [
            "226 Transfer complete.\r\n",
            "552 Quota exceeded: not enough room left; the upload was not kept.\r\n"
        ]
    );
    let kept: u64 = ["p1", "p2"]
        .iter()
        .filter_map(|n| std::fs::metadata(server.storage(&format!("alice/{n}"))).ok())
        .map(|m| m.len())
        .sum();
    assert!(kept <= 100 * K as u64, "{kept} bytes kept");
    assert!(
        alice_files(&server).len() <= 1,
        "{:?}",
        alice_files(&server)
    );
}

#[test]
fn cli_edits_reach_the_running_server_and_admins_are_not_held_by_the_default() {
    let server = TestServer::start();
    let bin = env!("CARGO_BIN_EXE_ferroftp");
    let ran = run_with_timeout(
        std::process::Command::new(bin)
            .args(["user", "limit", "*", "--files", "0", "--dir"])
            .arg(server.root()),
        30,
    )
    .ok("user limit");
    assert_eq!(
        ran.stdout,
        "*: quota=none files=0 upload_rate=none download_rate=none\n"
    );
    let mut alice = server.login(ALICE);
    assert!(
        wait_until(Duration::from_secs(5), || quota_line(&mut alice)
            .contains("files=0 ")),
        "picked up within 2 s"
    );
    let (reply, _) = send(&mut alice, "STOR x", b"x");
    assert_eq!(reply, "552 Quota exceeded: no more files allowed.\r\n");
    let mut admin = server.login(ADMIN);
    let (_, done) = send(&mut admin, "STOR /Public/by-admin", b"x");
    assert_eq!(done, "226 Transfer complete.\r\n");
    // Others' usage is for admins only.
    assert_eq!(alice.cmd("SITE QUOTA bob"), "550 Permission denied.\r\n");
    assert_eq!(
        admin.cmd("SITE QUOTA alice"),
        "200 alice: 0 bytes in 0 files; quota=none files=0 upload_rate=none download_rate=none\r\n"
    );
    assert_eq!(admin.cmd("SITE QUOTA nobody"), "550 No such user.\r\n");
    // `default` takes the key off the line; the line goes with its last key.
    run_with_timeout(
        std::process::Command::new(bin)
            .args(["user", "limit", "*", "--files", "default", "--dir"])
            .arg(server.root()),
        30,
    )
    .ok("user limit default");
    let text = std::fs::read_to_string(server.root().join("data/limits.txt")).unwrap();
    assert!(text.lines().all(|l| l.starts_with('#')), "{text}");
    assert!(
        wait_until(Duration::from_secs(5), || quota_line(&mut alice)
            .contains("files=none ")),
        "lifted within 2 s"
    );
}

#[test]
fn cli_refuses_bad_values_and_unknown_users_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_ferroftp");
    let limit = |args: &[&str]| {
        run_with_timeout(
            std::process::Command::new(bin)
                .args(["user", "limit"])
                .args(args)
                .arg("--dir")
                .arg(dir.path()),
            30,
        )
    };
    let ran = limit(&["nobody", "--files", "3"]);
    assert_eq!(
        (ran.code(), ran.stderr.as_str()),
        (Some(1), "error: no such user: nobody\n")
    );
    let cases = [
        (
            "--quota",
            "lots",
            "error: quota=lots: expected a size such as 500M or 10G, or none\n",
        ),
        (
            "--files",
            "1.5",
            "error: files=1.5: expected a whole number or none\n",
        ),
        (
            "--upload-rate",
            "100",
            "error: upload_rate=100: the slowest rate is 1K (1024 bytes per second)\n",
        ),
    ];
    for (flag, value, error) in cases {
        let ran = limit(&["*", flag, value]);
        assert_eq!(
            (ran.code(), ran.stderr.as_str()),
            (Some(1), error),
            "{flag} {value}"
        );
    }
    assert!(
        !dir.path().join("data/limits.txt").exists(),
        "nothing written"
    );
    // A hand edit gone wrong stops the next start with its line.
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    std::fs::write(
        dir.path().join("data/limits.txt"),
        "*: files=10\nbob: speed=1M\n",
    )
    .unwrap();
    let ran = run_with_timeout(
        std::process::Command::new(bin)
            .args(["serve", "--listen", "127.0.0.1:0", "--dir"])
            .arg(dir.path()),
        30,
    );
    assert_eq!(
        ran.stderr,
        "error: limits.txt:2: unknown key \"speed\" (expected quota, files, upload_rate or download_rate)\n"
    );
}

#[test]
fn a_running_server_keeps_the_last_good_limits_on_a_bad_edit() {
    let server = limited("alice: files=0\n");
    set_limits(&server, "alice: files=zero\n");
    let mut alice = server.login(ALICE);
    let (reply, _) = send(&mut alice, "STOR x", b"x");
    assert_eq!(reply, "552 Quota exceeded: no more files allowed.\r\n");
    // The reload itself works: the next good edit is taken.
    set_limits(&server, "alice: files=1\n");
    let (_, done) = send(&mut alice, "STOR x", b"x");
    assert_eq!(done, "226 Transfer complete.\r\n");
}

/// Reads a whole RETR, returning the bytes and how long the data took.
fn timed_download(raw: &mut Raw, path: &str) -> (Vec<u8>, Duration, String) {
    let mut data = raw.epsv();
    assert!(raw.cmd(&format!("RETR {path}")).starts_with("150 "));
    let started = Instant::now();
    let mut got = Vec::new();
    data.read_to_end(&mut got).unwrap();
    (got, started.elapsed(), raw.reply())
}

#[test]
fn a_download_rate_is_shared_by_all_the_users_sessions() {
    let server = limited("alice: download_rate=64K\n");
    let body = pseudo_random(96 * K, 10);
    std::fs::write(server.storage("Public/f"), &body).unwrap();
    // Two parallel downloads of 96K at 64K/s for the user: at least 3 s together (less the
    // first pieces, which go at once), however fast the machine.
    let started = Instant::now();
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let mut raw = server.login(ALICE);
            raw.cmd("TYPE I");
            std::thread::spawn(move || timed_download(&mut raw, "/Public/f"))
        })
        .collect();
    for w in workers {
        let (got, _, done) = w.join().unwrap();
        assert_eq!(got, body);
        assert_eq!(done, "226 Transfer complete.\r\n");
    }
    assert!(
        started.elapsed() >= Duration::from_millis(2500),
        "{:?}",
        started.elapsed()
    );
    // bob has no rate: the same file is not held back (no upper bound is asserted).
    let mut bob = server.login(BOB);
    bob.cmd("TYPE I");
    let (got, _, done) = timed_download(&mut bob, "/Public/f");
    assert_eq!((got, done.as_str()), (body, "226 Transfer complete.\r\n"));
}

#[test]
fn an_upload_rate_holds_and_abor_still_ends_a_paced_transfer() {
    let server = limited("alice: upload_rate=32K download_rate=16K\n");
    let mut alice = server.login(ALICE);
    alice.cmd("TYPE I");
    let body = pseudo_random(96 * K, 11);
    let started = Instant::now();
    let (_, done) = send(&mut alice, "STOR up", &body);
    assert_eq!(done, "226 Transfer complete.\r\n");
    // 96K at 32K/s: at least 2.5 s once the first pieces are counted out.
    assert!(
        started.elapsed() >= Duration::from_millis(2500),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(std::fs::read(server.storage("alice/up")).unwrap(), body);
    // A paced download waits between pieces, and ABOR is answered in the waits.
    let _data = {
        let data = alice.epsv();
        assert!(alice.cmd("RETR up").starts_with("150 "));
        data
    };
    std::thread::sleep(Duration::from_millis(300));
    alice.send("ABOR");
    assert_eq!(
        alice.reply(),
        "426 Connection closed; transfer aborted.\r\n"
    );
    assert_eq!(alice.reply(), "226 ABOR successful.\r\n");
}

#[test]
fn curl_hears_552_when_a_large_spliced_upload_passes_the_quota() {
    let server = limited("alice: quota=2M\n");
    let local = tempfile::tempdir().unwrap();
    let big = local.path().join("big.bin");
    std::fs::write(&big, pseudo_random(3 << 20, 12)).unwrap();
    let ran = run_with_timeout(
        std::process::Command::new("curl")
            .args(["-sS", "-T"])
            .arg(&big)
            .arg(format!("{}/big.bin", server.url(ALICE))),
        60,
    );
    assert!(!ran.success(), "{ran:?}");
    assert!(
        alice_files(&server).is_empty(),
        "{:?}",
        alice_files(&server)
    );
    let mut alice = server.login(ALICE);
    assert!(quota_line(&mut alice).starts_with("200 alice: 0 bytes in 0 files;"));
    eprintln!("curl said: {:?} {}", ran.code(), ran.stderr);
}

#[test]
fn the_readmes_user_limit_lines_work_as_written() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let lines: Vec<&str> = readme
        .lines()
        .filter(|l| l.starts_with("ferroftp user limit "))
        .collect();
    assert_eq!(lines.len(), 6, "{lines:?}");
    let dir = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_ferroftp");
    let ran = crate::support::run_with_input(
        std::process::Command::new(bin)
            .args(["user", "add", "alice", "--password-stdin"])
            .current_dir(dir.path()),
        Some(b"alice-password\n"),
        30,
    );
    assert!(ran.success(), "{ran:?}");
    let mut out = String::new();
    for line in lines {
        let ran = run_with_timeout(
            std::process::Command::new("sh")
                .arg("-c")
                .arg(line.replacen("ferroftp", bin, 1))
                .current_dir(dir.path()),
            30,
        );
        assert!(ran.success(), "{line}: {ran:?}");
        out = ran.stdout;
    }
    assert_eq!(
        out,
        "alice: quota=1G files=5000 upload_rate=512K download_rate=2M\n"
    );
}

#[test]
fn what_an_admin_does_to_a_users_files_counts_for_that_user() {
    let server = limited("alice: quota=100K\n");
    let mut alice = server.login(ALICE);
    alice.cmd("TYPE I");
    let (_, done) = send(&mut alice, "STOR f", &pseudo_random(60 * K, 13));
    assert_eq!(done, "226 Transfer complete.\r\n");
    // The admin is held by no quota, even on alice's file, but alice's count follows it.
    let mut admin = server.login(ADMIN);
    admin.cmd("TYPE I");
    let (_, done) = send(&mut admin, "APPE /alice/f", &pseudo_random(50 * K, 14));
    assert_eq!(done, "226 Transfer complete.\r\n");
    assert!(quota_line(&mut alice).starts_with("200 alice: 112640 bytes in 1 files;"));
    let (reply, _) = send(&mut alice, "STOR g", b"x");
    assert!(reply.starts_with("552 "), "over the quota now: {reply}");
    let (_, done) = send(&mut admin, "STOR /alice/f", &pseudo_random(10 * K, 15));
    assert_eq!(done, "226 Transfer complete.\r\n");
    assert!(quota_line(&mut alice).starts_with("200 alice: 10240 bytes in 1 files;"));
    assert_eq!(
        admin.cmd("DELE /alice/f"),
        "250 Delete operation successful.\r\n"
    );
    assert!(quota_line(&mut alice).starts_with("200 alice: 0 bytes in 0 files;"));
}

#[test]
fn one_file_takes_one_append_or_resume_at_a_time() {
    let server = TestServer::start();
    let mut first = server.login(ALICE);
    let (_, done) = send(&mut first, "STOR f", b"start");
    assert_eq!(done, "226 Transfer complete.\r\n");
    let mut data = first.epsv();
    assert!(first.cmd("APPE f").starts_with("150 "));
    let mut second = server.login(ALICE);
    let busy = "450 File busy: another upload is writing it; try again later.\r\n";
    let (reply, _) = send(&mut second, "APPE f", b"x");
    assert_eq!(reply, busy);
    let (reply, _) = send_from(&mut second, 2, "STOR f", b"x");
    assert_eq!(reply, busy);
    data.write_all(b"+more").unwrap();
    drop(data);
    assert_eq!(first.reply(), "226 Transfer complete.\r\n");
    let (_, done) = send(&mut second, "APPE f", b"!");
    assert_eq!(done, "226 Transfer complete.\r\n");
    assert_eq!(
        std::fs::read(server.storage("alice/f")).unwrap(),
        b"start+more!"
    );
}

#[test]
fn a_replacement_is_judged_again_when_it_is_published() {
    let server = limited("alice: quota=100K\n");
    let mut a = server.login(ALICE);
    a.cmd("TYPE I");
    let (_, done) = send(&mut a, "STOR f", &pseudo_random(100 * K, 16));
    assert_eq!(done, "226 Transfer complete.\r\n");
    // a replaces f with 100K (within its credit), but has not finished yet...
    let mut data = a.epsv();
    assert!(a.cmd("STOR f").starts_with("150 "));
    data.write_all(&pseudo_random(100 * K, 17)).unwrap();
    // ...while b empties f and uses the room for g.
    let mut b = server.login(ALICE);
    b.cmd("TYPE I");
    let (_, done) = send(&mut b, "STOR f", b"");
    assert_eq!(done, "226 Transfer complete.\r\n");
    let g = pseudo_random(100 * K, 18);
    let (_, done) = send(&mut b, "STOR g", &g);
    assert_eq!(done, "226 Transfer complete.\r\n");
    drop(data);
    assert_eq!(
        a.reply(),
        "552 Quota exceeded: not enough room left; the upload was not kept.\r\n"
    );
    assert_eq!(std::fs::read(server.storage("alice/f")).unwrap(), b"");
    assert_eq!(std::fs::read(server.storage("alice/g")).unwrap(), g);
    assert_eq!(alice_files(&server), ["f", "g"]);
}

#[test]
fn over_the_quota_a_user_can_still_make_a_file_smaller() {
    let server = limited("alice: quota=100K\n");
    let mut alice = server.login(ALICE);
    alice.cmd("TYPE I");
    let (_, done) = send(&mut alice, "STOR f", &pseudo_random(80 * K, 19));
    assert_eq!(done, "226 Transfer complete.\r\n");
    let mut admin = server.login(ADMIN);
    admin.cmd("TYPE I");
    let (_, done) = send(&mut admin, "APPE /alice/f", &pseudo_random(40 * K, 20));
    assert_eq!(done, "226 Transfer complete.\r\n");
    let smaller = pseudo_random(50 * K, 21);
    let (_, done) = send(&mut alice, "STOR f", &smaller);
    assert_eq!(done, "226 Transfer complete.\r\n");
    assert_eq!(std::fs::read(server.storage("alice/f")).unwrap(), smaller);
    assert!(quota_line(&mut alice).starts_with("200 alice: 51200 bytes in 1 files;"));
}

#[test]
fn an_ascii_upload_counts_the_bytes_stored() {
    let server = limited("alice: quota=10K\n");
    let mut alice = server.login(ALICE);
    alice.cmd("TYPE A");
    // 12,000 bytes on the wire, 10,000 on disk: fits a 10 KiB quota.
    let (_, done) = send(
        &mut alice,
        "STOR notes.txt",
        "abcd\r\n".repeat(2000).as_bytes(),
    );
    assert_eq!(done, "226 Transfer complete.\r\n");
    assert_eq!(
        std::fs::read(server.storage("alice/notes.txt")).unwrap(),
        "abcd\n".repeat(2000).as_bytes()
    );
}

#[test]
fn user_del_with_a_broken_limits_file_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_ferroftp");
    let user = |args: &[&str], input: Option<&[u8]>| {
        crate::support::run_with_input(
            std::process::Command::new(bin)
                .arg("user")
                .args(args)
                .arg("--dir")
                .arg(dir.path()),
            input,
            30,
        )
    };
    assert!(
        user(
            &["add", "alice", "--password-stdin"],
            Some(b"alice-password\n")
        )
        .success()
    );
    std::fs::write(dir.path().join("data/limits.txt"), "alice: files=many\n").unwrap();
    let del = user(&["del", "alice"], None);
    assert_eq!(
        (del.code(), del.stderr.as_str()),
        (
            Some(1),
            "error: limits.txt:1: files=many: expected a whole number or none\n"
        )
    );
    assert!(user(&["list"], None).stdout.contains("alice"));
}
