//! RETR/STOR/STOU/APPE/REST/ABOR, ASCII conversion, uploads that fail leave nothing, data
//! timeouts, xferlog, and parallel transfers.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use suppaftp::types::FileType;

use crate::support::{
    ALICE, BOB, Raw, TestServer, dir_names, place, pseudo_random, rest_retr, rest_stor, sha256,
    sha256_file, wait_until,
};

/// Waits (bounded) until the server has ended every session, so its clean-up has run.
fn wait_sessions_gone(server: &TestServer) {
    assert!(
        wait_until(Duration::from_secs(10), || server.shared.active_sessions()
            == 0),
        "sessions still open: {}",
        server.shared.active_sessions()
    );
}

fn temp_files(dir: &std::path::Path) -> Vec<String> {
    dir_names(dir)
        .into_iter()
        .filter(|n| n.starts_with(".ferroftp-upload."))
        .collect()
}

#[test]
fn retr_stor_sha256_round_trip() {
    let server = TestServer::start();
    let body = pseudo_random(3 * 1024 * 1024 + 17, 7);
    let mut ftp = server.ftp(ALICE);
    assert_eq!(
        ftp.put_file("big.bin", &mut &body[..]).unwrap(),
        body.len() as u64
    );
    assert_eq!(sha256_file(&server.storage("alice/big.bin")), sha256(&body));
    let back = ftp.retr_as_buffer("big.bin").unwrap().into_inner();
    assert_eq!(sha256(&back), sha256(&body));
    assert_eq!(ftp.size("big.bin").unwrap(), body.len());

    let mut raw = server.login(ALICE);
    assert_eq!(raw.cmd("TYPE I"), "200 Switching to Binary mode.\r\n");
    let (opening, data, done) = raw.download("RETR big.bin");
    assert_eq!(
        opening,
        format!(
            "150 Opening BINARY mode data connection for /alice/big.bin ({} bytes).\r\n",
            body.len()
        )
    );
    assert_eq!(sha256(&data), sha256(&body));
    assert_eq!(done, "226 Transfer complete.\r\n");
    // Replacing an existing file, and an empty file.
    let (opening, done) = raw.upload("STOR big.bin", b"small now");
    assert_eq!(
        opening,
        "150 Opening BINARY mode data connection for /alice/big.bin.\r\n"
    );
    assert_eq!(done, "226 Transfer complete.\r\n");
    assert_eq!(
        std::fs::read(server.storage("alice/big.bin")).unwrap(),
        b"small now"
    );
    assert_eq!(
        raw.upload("STOR empty", b"").1,
        "226 Transfer complete.\r\n"
    );
    assert_eq!(std::fs::read(server.storage("alice/empty")).unwrap(), b"");
    let (_, data, done) = raw.download("RETR empty");
    assert!(data.is_empty());
    assert_eq!(done, "226 Transfer complete.\r\n");
    assert!(temp_files(&server.storage("alice")).is_empty());
    // Errors before any data connection is used.
    assert_eq!(
        raw.download("RETR nope").0,
        "550 No such file or directory.\r\n"
    );
    std::fs::create_dir(server.storage("alice/dir")).unwrap();
    assert_eq!(raw.download("RETR dir").0, "550 Not a plain file.\r\n");
    assert_eq!(raw.upload("STOR dir", b"x").0, "550 Not a plain file.\r\n");
    assert_eq!(
        raw.upload("STOR nodir/x", b"x").0,
        "550 No such file or directory.\r\n"
    );
    assert_eq!(raw.cmd("RETR"), "501 RETR needs an argument.\r\n");
}

#[test]
fn stou_stores_under_a_unique_name() {
    let server = TestServer::start();
    std::fs::write(server.storage("alice/report.txt"), b"old").unwrap();
    let mut raw = server.login(ALICE);
    raw.cmd("TYPE I");
    let (opening, done) = raw.upload("STOU report.txt", b"new one");
    assert_eq!(opening, "150 FILE: report.txt.1\r\n");
    assert_eq!(
        done,
        "226 Transfer complete (unique file name: report.txt.1).\r\n"
    );
    assert_eq!(
        std::fs::read(server.storage("alice/report.txt")).unwrap(),
        b"old"
    );
    assert_eq!(
        std::fs::read(server.storage("alice/report.txt.1")).unwrap(),
        b"new one"
    );
    let (opening, _) = raw.upload("STOU report.txt", b"third");
    assert_eq!(opening, "150 FILE: report.txt.2\r\n");
    let (opening, done) = raw.upload("STOU", b"anon");
    assert_eq!(opening, "150 FILE: ferroftp.upload\r\n");
    assert_eq!(
        done,
        "226 Transfer complete (unique file name: ferroftp.upload).\r\n"
    );
    assert_eq!(
        std::fs::read(server.storage("alice/ferroftp.upload")).unwrap(),
        b"anon"
    );
    let (opening, _) = raw.upload("STOU", b"anon2");
    assert_eq!(opening, "150 FILE: ferroftp.upload.1\r\n");
}

#[test]
fn appe_appends() {
    let server = TestServer::start();
    place(&server, "alice/log.txt", b"one\n", "alice", false);
    let mut raw = server.login(ALICE);
    raw.cmd("TYPE I");
    let (opening, done) = raw.upload("APPE log.txt", b"two\n");
    assert_eq!(
        opening,
        "150 Opening BINARY mode data connection for /alice/log.txt.\r\n"
    );
    assert_eq!(done, "226 Transfer complete.\r\n");
    assert_eq!(
        std::fs::read(server.storage("alice/log.txt")).unwrap(),
        b"one\ntwo\n"
    );
    assert_eq!(
        raw.upload("APPE fresh.txt", b"new").1,
        "226 Transfer complete.\r\n"
    );
    assert_eq!(
        std::fs::read(server.storage("alice/fresh.txt")).unwrap(),
        b"new"
    );

    let mut ftp = server.ftp(ALICE);
    let tail = pseudo_random(300_000, 3);
    ftp.append_file("log.txt", &mut &tail[..]).unwrap();
    let mut expected = b"one\ntwo\n".to_vec();
    expected.extend_from_slice(&tail);
    assert_eq!(
        std::fs::read(server.storage("alice/log.txt")).unwrap(),
        expected
    );
}

#[test]
fn rest_then_retr_resumes_from_offset() {
    let server = TestServer::start();
    let body = pseudo_random(1_000_000, 11);
    std::fs::write(server.storage("alice/f.bin"), &body).unwrap();
    let mut raw = server.login(ALICE);
    raw.cmd("TYPE I");
    let (opening, data, done) = rest_retr(&mut raw, 123_456, "RETR f.bin");
    assert!(opening.starts_with("150 "), "{opening}");
    assert_eq!(sha256(&data), sha256(&body[123_456..]));
    assert_eq!(done, "226 Transfer complete.\r\n");
    // The offset applies to one transfer only.
    let (_, data, _) = raw.download("RETR f.bin");
    assert_eq!(sha256(&data), sha256(&body));
    // Any other command in between cancels it.
    let mut data_conn = raw.epsv();
    raw.cmd("REST 10");
    assert_eq!(raw.cmd("NOOP"), "200 NOOP ok.\r\n");
    assert!(raw.cmd("RETR f.bin").starts_with("150 "));
    let mut all = Vec::new();
    data_conn.read_to_end(&mut all).unwrap();
    assert_eq!(all.len(), body.len());
    raw.reply();
    // At the end: nothing to send.
    let (_, data, done) = rest_retr(&mut raw, body.len() as u64, "RETR f.bin");
    assert!(data.is_empty());
    assert_eq!(done, "226 Transfer complete.\r\n");
    let (opening, _, _) = rest_retr(&mut raw, body.len() as u64 + 1, "RETR f.bin");
    assert_eq!(opening, "554 Invalid REST parameter.\r\n");
    assert_eq!(
        raw.cmd("REST abc"),
        "501 Syntax error in parameters or arguments.\r\n"
    );

    let mut ftp = server.ftp(ALICE);
    ftp.resume_transfer(999_000).unwrap();
    let tail = ftp.retr_as_buffer("f.bin").unwrap().into_inner();
    assert_eq!(sha256(&tail), sha256(&body[999_000..]));
}

#[test]
fn rest_then_stor_resumes_upload() {
    let server = TestServer::start();
    let body = pseudo_random(500_000, 13);
    place(&server, "alice/part.bin", &body[..200_000], "alice", false);
    let mut raw = server.login(ALICE);
    raw.cmd("TYPE I");
    let (opening, done) = rest_stor(&mut raw, 150_000, "STOR part.bin", &body[150_000..]);
    assert!(opening.starts_with("150 "), "{opening}");
    assert_eq!(done, "226 Transfer complete.\r\n");
    assert_eq!(
        sha256_file(&server.storage("alice/part.bin")),
        sha256(&body)
    );
    let (opening, _) = rest_stor(&mut raw, 999_999_999, "STOR part.bin", b"x");
    assert_eq!(opening, "554 Invalid REST parameter.\r\n");
    assert_eq!(
        sha256_file(&server.storage("alice/part.bin")),
        sha256(&body)
    );

    // suppaftp sends REST itself right before STOR.
    place(&server, "alice/p2.bin", &body[..10], "alice", false);
    let mut ftp = server.ftp(ALICE);
    ftp.resume_transfer(10).unwrap();
    ftp.put_file("p2.bin", &mut &body[10..]).unwrap();
    assert_eq!(sha256_file(&server.storage("alice/p2.bin")), sha256(&body));
}

#[test]
fn ascii_type_converts_line_endings_both_ways() {
    let server = TestServer::start();
    let mut raw = server.login(ALICE);
    assert_eq!(raw.cmd("TYPE A"), "200 Switching to ASCII mode.\r\n");
    let (opening, done) = raw.upload("STOR up.txt", b"a\r\nb\r\n");
    assert_eq!(
        opening,
        "150 Opening ASCII mode data connection for /alice/up.txt.\r\n"
    );
    assert_eq!(done, "226 Transfer complete.\r\n");
    assert_eq!(
        std::fs::read(server.storage("alice/up.txt")).unwrap(),
        b"a\nb\n"
    );
    // A lone CR is data, and a CR at the very end survives.
    raw.upload("STOR cr.txt", b"c\rd\r\ne\r");
    assert_eq!(
        std::fs::read(server.storage("alice/cr.txt")).unwrap(),
        b"c\rd\ne\r"
    );

    std::fs::write(server.storage("alice/down.txt"), b"x\ny\n").unwrap();
    let (opening, data, done) = raw.download("RETR down.txt");
    assert_eq!(
        opening,
        "150 Opening ASCII mode data connection for /alice/down.txt (4 bytes).\r\n"
    );
    assert_eq!(data, b"x\r\ny\r\n");
    assert_eq!(done, "226 Transfer complete.\r\n");
    std::fs::write(server.storage("alice/mixed.txt"), b"p\r\nq\n").unwrap();
    assert_eq!(raw.download("RETR mixed.txt").1, b"p\r\nq\r\n");

    // Many CRLFs across the server's buffer boundaries.
    let network: Vec<u8> = b"ab\r\n".repeat(300_000);
    assert_eq!(
        raw.upload("STOR many.txt", &network).1,
        "226 Transfer complete.\r\n"
    );
    let local = std::fs::read(server.storage("alice/many.txt")).unwrap();
    assert_eq!(local.len(), 900_000);
    assert_eq!(sha256(&local), sha256(&b"ab\n".repeat(300_000)));
    assert_eq!(sha256(&raw.download("RETR many.txt").1), sha256(&network));

    // Binary is byte-exact.
    assert_eq!(raw.cmd("TYPE I"), "200 Switching to Binary mode.\r\n");
    assert_eq!(raw.download("RETR down.txt").1, b"x\ny\n");
    raw.upload("STOR bin.txt", b"a\r\nb");
    assert_eq!(
        std::fs::read(server.storage("alice/bin.txt")).unwrap(),
        b"a\r\nb"
    );
}

/// Makes a sparse file of `len` bytes.
fn sparse(server: &TestServer, rel: &str, len: u64) {
    let f = std::fs::File::create(server.storage(rel)).unwrap();
    f.set_len(len).unwrap();
}

/// RFC 959 ABOR: 426 for the aborted transfer, then 226 for the ABOR itself. The client sends
/// ABOR while it has stopped reading the data connection (the server's send is blocked).
#[test]
fn abor_during_retr_answers_426_then_226() {
    let server = TestServer::start();
    sparse(&server, "alice/huge.bin", 200 * 1024 * 1024);
    let mut raw = server.login(ALICE);
    raw.cmd("TYPE I");
    let mut data = raw.epsv();
    assert_eq!(
        raw.cmd("RETR huge.bin"),
        "150 Opening BINARY mode data connection for /alice/huge.bin (209715200 bytes).\r\n"
    );
    let mut buf = vec![0u8; 64 * 1024];
    data.read_exact(&mut buf).unwrap();
    raw.set_timeout(Duration::from_secs(10));
    let started = Instant::now();
    raw.send_bytes(b"\xff\xf4\xff\xf2ABOR\r\n");
    let first = raw.try_reply();
    let second = first.as_ref().and_then(|_| raw.try_reply());
    let waited = started.elapsed();
    drop(data);
    assert_eq!(
        (first.as_deref(), second.as_deref()),
        (
            Some("426 Connection closed; transfer aborted.\r\n"),
            Some("226 ABOR successful.\r\n")
        ),
        "after {waited:?}"
    );
    raw.set_timeout(Duration::from_secs(20));
    assert_eq!(raw.cmd("NOOP"), "200 NOOP ok.\r\n");
}

/// The usual client sequence (suppaftp's `abort`, ftplib): send ABOR, close the data
/// connection, then read the replies: 426 then 226 (or a lone 226 if it had completed).
#[test]
fn abor_then_close_data_answers_426_then_226() {
    let server = TestServer::start();
    sparse(&server, "alice/huge.bin", 200 * 1024 * 1024);
    let mut raw = server.login(ALICE);
    raw.cmd("TYPE I");
    let mut data = raw.epsv();
    assert!(raw.cmd("RETR huge.bin").starts_with("150 "));
    let mut buf = vec![0u8; 64 * 1024];
    data.read_exact(&mut buf).unwrap();
    raw.set_timeout(Duration::from_secs(15));
    raw.send("ABOR");
    drop(data);
    assert_eq!(
        raw.try_reply().as_deref(),
        Some("426 Connection closed; transfer aborted.\r\n")
    );
    assert_eq!(raw.try_reply().as_deref(), Some("226 ABOR successful.\r\n"));
    assert_eq!(raw.cmd("NOOP"), "200 NOOP ok.\r\n");

    let mut ftp = server.ftp(ALICE);
    let mut stream = ftp.retr_as_stream("huge.bin").unwrap();
    stream.read_exact(&mut buf).unwrap();
    ftp.abort(stream).expect("suppaftp abort: 426 then 226");
    ftp.noop().unwrap();
}

#[test]
fn abor_without_transfer_answers_225() {
    let server = TestServer::start();
    let mut raw = server.login(ALICE);
    assert_eq!(raw.cmd("ABOR"), "225 No transfer to abort.\r\n");
    assert_eq!(raw.cmd("NOOP"), "200 NOOP ok.\r\n");
    // A file placed on disk with no record belongs to nobody: alice cannot append to it.
    std::fs::write(server.storage("alice/unowned.txt"), b"one\n").unwrap();
    assert_eq!(
        raw.upload("APPE unowned.txt", b"two\n").0,
        "550 Permission denied.\r\n"
    );
    assert_eq!(
        std::fs::read(server.storage("alice/unowned.txt")).unwrap(),
        b"one\n"
    );
}

#[test]
fn abor_during_stor_keeps_nothing() {
    let server = TestServer::start();
    place(&server, "alice/keep.bin", b"original", "alice", false);
    let mut raw = server.login(ALICE);
    raw.cmd("TYPE I");
    let mut data = raw.epsv();
    assert!(raw.cmd("STOR new.bin").starts_with("150 "));
    data.write_all(&pseudo_random(512 * 1024, 5)).unwrap();
    raw.set_timeout(Duration::from_secs(15));
    raw.send("ABOR");
    assert_eq!(
        raw.try_reply().as_deref(),
        Some("426 Connection closed; transfer aborted.\r\n")
    );
    assert_eq!(raw.try_reply().as_deref(), Some("226 ABOR successful.\r\n"));
    drop(data);
    let mut data = raw.epsv();
    assert!(raw.cmd("STOR keep.bin").starts_with("150 "));
    data.write_all(&pseudo_random(512 * 1024, 6)).unwrap();
    raw.send("ABOR");
    assert_eq!(
        raw.try_reply().as_deref(),
        Some("426 Connection closed; transfer aborted.\r\n")
    );
    assert_eq!(raw.try_reply().as_deref(), Some("226 ABOR successful.\r\n"));
    drop(data);
    assert_eq!(raw.cmd("NOOP"), "200 NOOP ok.\r\n");
    assert!(!server.storage("alice/new.bin").exists());
    assert_eq!(
        std::fs::read(server.storage("alice/keep.bin")).unwrap(),
        b"original"
    );
    assert!(temp_files(&server.storage("alice")).is_empty());
}

/// A client that dies mid-upload (control closed, then data): no file under the final name,
/// no temp file, and an existing file of that name is untouched.
#[test]
fn client_vanishing_mid_upload_leaves_nothing() {
    let server = TestServer::start();
    place(&server, "alice/old.bin", b"old content", "alice", false);
    for (round, name) in ["gone.bin", "old.bin", "gone2.bin"].iter().enumerate() {
        let mut raw = server.login(ALICE);
        raw.cmd("TYPE I");
        let mut data = raw.epsv();
        assert!(raw.cmd(&format!("STOR {name}")).starts_with("150 "));
        data.write_all(&pseudo_random(1024 * 1024, round as u64))
            .unwrap();
        drop(raw);
        drop(data);
        wait_sessions_gone(&server);
    }
    assert_eq!(dir_names(&server.storage("alice")), ["old.bin"]);
    assert_eq!(
        std::fs::read(server.storage("alice/old.bin")).unwrap(),
        b"old content"
    );
}

/// A data connection reset (RST) mid-upload answers 426 and keeps nothing.
#[test]
fn data_reset_mid_upload_answers_426_and_keeps_nothing() {
    let server = TestServer::start();
    let mut raw = server.login(ALICE);
    raw.cmd("TYPE I");
    let mut data = raw.epsv();
    assert!(raw.cmd("STOR reset.bin").starts_with("150 "));
    data.write_all(&pseudo_random(1024 * 1024, 9)).unwrap();
    socket2::SockRef::from(&data)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(data);
    raw.set_timeout(Duration::from_secs(15));
    assert_eq!(
        raw.try_reply().as_deref(),
        Some("426 Connection closed; transfer aborted.\r\n")
    );
    assert_eq!(raw.cmd("NOOP"), "200 NOOP ok.\r\n");
    assert!(!server.storage("alice/reset.bin").exists());
    assert!(temp_files(&server.storage("alice")).is_empty());
}

#[test]
fn overwrite_false_refuses_stor_on_existing_file() {
    let server = TestServer::start_with(|s| s.overwrite = false);
    place(&server, "alice/exists.txt", b"keep me", "alice", false);
    let mut raw = server.login(ALICE);
    raw.cmd("TYPE I");
    assert_eq!(
        raw.upload("STOR exists.txt", b"new").0,
        "553 Could not create file: it exists.\r\n"
    );
    assert_eq!(
        std::fs::read(server.storage("alice/exists.txt")).unwrap(),
        b"keep me"
    );
    assert_eq!(
        raw.upload("STOR fresh.txt", b"new").1,
        "226 Transfer complete.\r\n"
    );
    assert_eq!(
        raw.upload("STOR fresh.txt", b"again").0,
        "553 Could not create file: it exists.\r\n"
    );
    let mut ftp = server.ftp(ALICE);
    let err = ftp.put_file("exists.txt", &mut &b"x"[..]).unwrap_err();
    match err {
        suppaftp::FtpError::UnexpectedResponse(r) => assert_eq!(r.status.code(), 553),
        other => panic!("{other:?}"),
    }
}

#[test]
fn data_connection_not_opened_in_time_answers_425() {
    let server = TestServer::start_with(|s| s.data_timeout = Duration::from_secs(1));
    std::fs::write(server.storage("alice/f.txt"), b"x").unwrap();
    let mut raw = server.login(ALICE);
    raw.cmd("TYPE I");
    let r = raw.cmd("EPSV");
    assert!(r.starts_with("229 "), "{r}");
    let started = Instant::now();
    assert_eq!(
        raw.cmd("RETR f.txt"),
        "150 Opening BINARY mode data connection for /alice/f.txt (1 bytes).\r\n"
    );
    assert_eq!(raw.reply(), "425 Data connection not opened in time.\r\n");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
    // An upload that never got its data connection leaves nothing.
    raw.cmd("PASV");
    assert!(raw.cmd("STOR never.bin").starts_with("150 "));
    assert_eq!(raw.reply(), "425 Data connection not opened in time.\r\n");
    assert!(!server.storage("alice/never.bin").exists());
    assert!(temp_files(&server.storage("alice")).is_empty());
    // Active mode to a port nobody listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    raw.cmd(&format!("EPRT |1|127.0.0.1|{port}|"));
    assert!(raw.cmd("RETR f.txt").starts_with("150 "));
    assert_eq!(raw.reply(), "425 Failed to establish connection.\r\n");
    assert_eq!(raw.cmd("NOOP"), "200 NOOP ok.\r\n");
}

/// data/xferlog: `date(5 fields) secs host bytes path type _ direction r user ftp 0 * status`.
#[test]
fn xferlog_line_per_transfer() {
    let server = TestServer::start();
    let mut raw = server.login(ALICE);
    raw.cmd("TYPE I");
    assert_eq!(
        raw.upload("STOR my file.bin", &[7u8; 1234]).1,
        "226 Transfer complete.\r\n"
    );
    assert_eq!(raw.download("RETR my file.bin").1.len(), 1234);
    raw.cmd("TYPE A");
    let mut bob = server.login(BOB);
    bob.cmd("TYPE I");
    let mut data = bob.epsv();
    assert!(bob.cmd("STOR cut.bin").starts_with("150 "));
    data.write_all(&[1u8; 1000]).unwrap();
    socket2::SockRef::from(&data)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(data);
    assert!(bob.reply().starts_with("426 "));

    let log = std::fs::read_to_string(server.root().join("data/xferlog")).unwrap();
    let lines: Vec<Vec<&str>> = log
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(lines.len(), 3, "{log}");
    for l in &lines {
        assert_eq!(l.len(), 18, "{l:?}");
        assert!(l[5].parse::<u64>().unwrap() >= 1, "{l:?}");
        assert_eq!(l[6], "127.0.0.1");
    }
    assert_eq!(
        lines[0][7..],
        [
            "1234",
            "/alice/my_file.bin",
            "b",
            "_",
            "i",
            "r",
            "alice",
            "ftp",
            "0",
            "*",
            "c"
        ]
    );
    assert_eq!(
        lines[1][7..],
        [
            "1234",
            "/alice/my_file.bin",
            "b",
            "_",
            "o",
            "r",
            "alice",
            "ftp",
            "0",
            "*",
            "c"
        ]
    );
    assert_eq!(lines[2][8], "/bob/cut.bin");
    assert_eq!(lines[2][10..], ["_", "i", "r", "bob", "ftp", "0", "*", "i"]);
}

/// Eight clients upload and download distinct 1 MB files at once.
#[test]
fn parallel_transfers_are_byte_exact() {
    let server = TestServer::start();
    let addr = server.addr;
    let handles: Vec<_> = (0..8u64)
        .map(|i| {
            std::thread::spawn(move || {
                let body = pseudo_random(1024 * 1024, 100 + i);
                let mut ftp = suppaftp::FtpStream::connect(addr).unwrap();
                ftp.login(ALICE.0, ALICE.1).unwrap();
                ftp.transfer_type(FileType::Binary).unwrap();
                let name = format!("par-{i}.bin");
                ftp.put_file(&name, &mut &body[..]).unwrap();
                let back = ftp.retr_as_buffer(&name).unwrap().into_inner();
                ftp.quit().unwrap();
                (name, sha256(&body), sha256(&back))
            })
        })
        .collect();
    for h in handles {
        let (name, sent, received) = h.join().expect("client thread");
        assert_eq!(sent, received, "{name} round trip");
        assert_eq!(sha256_file(&server.storage(&format!("alice/{name}"))), sent);
    }
    assert!(temp_files(&server.storage("alice")).is_empty());
}

/// A second client on the same file while an upload runs sees the old content, never a half file.
#[test]
fn readers_never_see_a_half_upload() {
    let server = TestServer::start();
    place(&server, "alice/doc.bin", b"version 1", "alice", false);
    let mut raw = server.login(ALICE);
    raw.cmd("TYPE I");
    let mut data = raw.epsv();
    assert!(raw.cmd("STOR doc.bin").starts_with("150 "));
    let body = pseudo_random(256 * 1024, 77);
    data.write_all(&body).unwrap();
    let mut other = server.ftp(ALICE);
    assert_eq!(
        other.retr_as_buffer("doc.bin").unwrap().into_inner(),
        b"version 1"
    );
    drop(data);
    assert_eq!(raw.reply(), "226 Transfer complete.\r\n");
    assert_eq!(sha256_file(&server.storage("alice/doc.bin")), sha256(&body));
}

/// Disk full (here: the file-size limit `ulimit -f`, which fails writes with EFBIG the way a
/// full disk fails them with ENOSPC) answers 452, keeps nothing, and the session goes on.
#[test]
fn disk_full_answers_452_and_keeps_nothing() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ferroftp.toml"), "bcrypt_cost = 4\n").unwrap();
    let bin = env!("CARGO_BIN_EXE_ferroftp");
    let mut add = std::process::Command::new(bin);
    add.args(["user", "add", "alice", "--password-stdin", "--dir"])
        .arg(dir.path());
    crate::support::run_with_input(&mut add, Some(b"alice-pw\n"), 60).ok("user add");
    // 512 KiB limit; SIGXFSZ ignored so the write fails instead of killing the server.
    let script = format!(
        "trap '' XFSZ; ulimit -f 512; exec {bin} serve --dir {} --listen 127.0.0.1:0",
        dir.path().display()
    );
    let mut child = std::process::Command::new("bash")
        .args(["-c", &script])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let _guard = Kill(child);
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut line).unwrap();
    let addr: std::net::SocketAddr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .parse()
        .unwrap();
    let mut raw = Raw::connect(addr);
    assert!(raw.reply().starts_with("220 "));
    raw.cmd("USER alice");
    assert_eq!(raw.cmd("PASS alice-pw"), "230 Login successful.\r\n");
    raw.cmd("TYPE I");
    let big = pseudo_random(1024 * 1024, 11);
    let (opening, done) = raw.upload("STOR big.bin", &big);
    assert!(opening.starts_with("150 "), "{opening}");
    assert_eq!(done, "452 Insufficient storage space.\r\n");
    let home = dir.path().join("server_storage/alice");
    assert!(!home.join("big.bin").exists());
    assert!(temp_files(&home).is_empty(), "{:?}", temp_files(&home));
    assert_eq!(
        raw.upload("STOR small.bin", b"fits").1,
        "226 Transfer complete.\r\n"
    );
    assert_eq!(raw.cmd("NOOP"), "200 NOOP ok.\r\n");
}

/// Past its first MiB a plain binary upload is spliced from the socket to the file: every
/// upload mode stays byte-exact across that switch, and ABOR or a reset after it keeps nothing.
#[test]
fn uploads_past_the_splice_threshold_are_exact_and_abort_cleanly() {
    let server = TestServer::start();
    let mut raw = server.login(ALICE);
    raw.cmd("TYPE I");
    let body = pseudo_random(6 * 1024 * 1024 + 5, 41);
    let (_, done) = raw.upload("STOR whole.bin", &body);
    assert_eq!(done, "226 Transfer complete.\r\n");
    assert_eq!(
        sha256_file(&server.storage("alice/whole.bin")),
        sha256(&body)
    );

    // REST 2 MiB + STOR: the file is cut at the offset and the rest lands after it.
    let offset = 2 * 1024 * 1024;
    place(
        &server,
        "alice/resumed.bin",
        &body[..offset + 999],
        "alice",
        false,
    );
    let (opening, done) = rest_stor(&mut raw, offset as u64, "STOR resumed.bin", &body[offset..]);
    assert!(opening.starts_with("150 "), "{opening}");
    assert_eq!(done, "226 Transfer complete.\r\n");
    assert_eq!(
        sha256_file(&server.storage("alice/resumed.bin")),
        sha256(&body)
    );

    // APPE (an O_APPEND file, never spliced) of 3 MiB.
    let tail = pseudo_random(3 * 1024 * 1024, 42);
    assert_eq!(
        raw.upload("APPE whole.bin", &tail).1,
        "226 Transfer complete.\r\n"
    );
    let mut expected = body.clone();
    expected.extend_from_slice(&tail);
    assert_eq!(
        sha256_file(&server.storage("alice/whole.bin")),
        sha256(&expected)
    );

    // ABOR after 3 MiB: 426 then 226, nothing kept.
    let mut data = raw.epsv();
    assert!(raw.cmd("STOR aborted.bin").starts_with("150 "));
    data.write_all(&body[..3 * 1024 * 1024]).unwrap();
    raw.set_timeout(Duration::from_secs(15));
    raw.send("ABOR");
    assert_eq!(
        raw.try_reply().as_deref(),
        Some("426 Connection closed; transfer aborted.\r\n")
    );
    assert_eq!(raw.try_reply().as_deref(), Some("226 ABOR successful.\r\n"));
    drop(data);

    // A reset after 3 MiB: 426, nothing kept.
    let mut data = raw.epsv();
    assert!(raw.cmd("STOR reset.bin").starts_with("150 "));
    data.write_all(&body[..3 * 1024 * 1024]).unwrap();
    socket2::SockRef::from(&data)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(data);
    assert_eq!(
        raw.try_reply().as_deref(),
        Some("426 Connection closed; transfer aborted.\r\n")
    );
    assert_eq!(raw.cmd("NOOP"), "200 NOOP ok.\r\n");
    assert!(!server.storage("alice/aborted.bin").exists());
    assert!(!server.storage("alice/reset.bin").exists());
    assert!(temp_files(&server.storage("alice")).is_empty());
}
