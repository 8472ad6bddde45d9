//! The access model over real sockets: directories.txt grants, ownership and visibility,
//! metadata across renames, restarts and `kill -9`, the admin and SIGNUP seed commands,
//! anonymous login, and account changes from the CLI and the server at once.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ferroftp::config::Settings;
use ferroftp::server::Server;

use crate::support::{
    ADMIN, ALICE, BOB, Raw, Served, TestServer, listening, place, pseudo_random, run_with_input,
    run_with_timeout, wait_until,
};

const ABSENT: &str = "550 No such file or directory.\r\n";
const DENIED: &str = "550 Permission denied.\r\n";
const DONE: &str = "226 Transfer complete.\r\n";
const OK_LOGIN: &str = "230 Login successful.\r\n";
const LOGIN_INCORRECT: &str = "530 Login incorrect.\r\n";

// ---- helpers ----

/// Replaces data/directories.txt atomically (the server never reads half a file).
fn set_grants(root: &Path, text: &str) {
    let data = root.join("data");
    let tmp = data.join("directories.txt.test-tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, data.join("directories.txt")).unwrap();
}

/// Writes directories.txt and waits (bounded) until the server has loaded it, judged by
/// `user`'s grants containing `dir`.
fn set_grants_and_wait(server: &TestServer, text: &str, user: &str, dir: &str) {
    set_grants(server.root(), text);
    assert!(
        wait_until(Duration::from_secs(5), || server
            .shared
            .directories
            .grants_for(user)
            .iter()
            .any(|g| g.dir == dir)),
        "directories.txt not reloaded within 5 s"
    );
}

/// `NLST path` (or the cwd) as names; an empty list when the command is refused.
fn nlst(raw: &mut Raw, path: &str) -> Vec<String> {
    let verb = if path.is_empty() {
        "NLST -a".to_owned()
    } else {
        format!("NLST -a {path}")
    };
    let (opening, body, _) = raw.listing(&verb);
    assert!(opening.starts_with("150 "), "{verb}: {opening}");
    body.lines().map(str::to_owned).collect()
}

/// The body of a listing command that must succeed.
fn list(raw: &mut Raw, verb: &str) -> String {
    let (opening, body, done) = raw.listing(verb);
    assert!(opening.starts_with("150 "), "{verb}: {opening}");
    assert_eq!(done, "226 Directory send OK.\r\n", "{verb}");
    body
}

/// The LIST line of `name` in `body`, if any.
fn line_of<'a>(body: &'a str, name: &str) -> Option<&'a str> {
    body.lines().find(|l| l.ends_with(&format!(" {name}")))
}

/// Uploads `body` to `path` and insists on 226.
fn upload_ok(raw: &mut Raw, path: &str, body: &[u8]) {
    let (opening, done) = raw.upload(&format!("STOR {path}"), body);
    assert!(opening.starts_with("150 "), "STOR {path}: {opening}");
    assert_eq!(done, DONE, "STOR {path}");
}

/// A login attempt on a fresh connection: the PASS reply.
fn try_login(addr: std::net::SocketAddr, user: &str, password: &str) -> String {
    let mut raw = Raw::connect(addr);
    let greeting = raw.reply();
    assert!(greeting.starts_with("220 "), "{greeting}");
    raw.cmd(&format!("USER {user}"));
    raw.cmd(&format!("PASS {password}"))
}

/// The `perm` fact of the MLSD line of `name`.
fn mlsd_facts(raw: &mut Raw, dir: &str, name: &str) -> String {
    let body = list(raw, &format!("MLSD {dir}"));
    body.lines()
        .find(|l| l.ends_with(&format!("; {name}")))
        .unwrap_or_else(|| panic!("no {name} in MLSD {dir}: {body}"))
        .to_owned()
}

fn fact<'a>(facts: &'a str, key: &str) -> &'a str {
    facts
        .split(';')
        .find_map(|f| f.trim().strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("no {key} in {facts}"))
}

fn curl(args: &[&str]) -> crate::support::Ran {
    run_with_timeout(
        Command::new("curl")
            .args(["-q", "-sS", "--connect-timeout", "5", "--max-time", "20"])
            .args(args),
        30,
    )
}

// ---- 1. directories.txt ----

#[test]
fn directories_txt_decides_what_each_user_sees() {
    let server = TestServer::start();
    std::fs::create_dir(server.storage("Movies")).unwrap();
    // Placed on disk with no record: belongs to nobody, readable per the grant.
    std::fs::write(server.storage("Movies/film.mkv"), b"frames").unwrap();
    std::fs::create_dir(server.storage("NotGranted")).unwrap();
    place(&server, "alice/notes.txt", b"alice's", "alice", true);
    place(&server, "Public/shared.txt", b"shared", "alice", true);
    set_grants_and_wait(
        &server,
        "*: Public:rw, ~:rw\nbob: Public:ro, ~:rw, Movies:ro\n",
        "bob",
        "Movies",
    );

    // `/` shows granted, existing top-level directories only.
    let mut bob = server.login(BOB);
    bob.cmd("TYPE I");
    assert_eq!(nlst(&mut bob, "/"), ["Movies", "Public", "bob"]);
    assert_eq!(list(&mut bob, "LIST /").lines().count(), 3);
    let mut alice = server.login(ALICE);
    assert_eq!(nlst(&mut alice, "/"), ["Public", "alice"]);
    let mut admin = server.login(ADMIN);
    assert_eq!(
        nlst(&mut admin, "/"),
        ["Movies", "NotGranted", "Public", "admin", "alice", "bob"]
    );
    assert_eq!(admin.download("RETR /alice/notes.txt").1, b"alice's");

    // Ungranted directories are absent, exactly like missing ones.
    for path in ["/alice", "/NotGranted", "/no-such-dir"] {
        assert_eq!(bob.cmd(&format!("CWD {path}")), ABSENT, "CWD {path}");
        assert_eq!(
            bob.listing(&format!("LIST {path}")).0,
            ABSENT,
            "LIST {path}"
        );
        assert_eq!(bob.cmd(&format!("MLST {path}")), ABSENT, "MLST {path}");
        let file = format!("{path}/notes.txt");
        assert_eq!(bob.download(&format!("RETR {file}")).0, ABSENT, "{file}");
        assert_eq!(bob.cmd(&format!("SIZE {file}")), ABSENT, "{file}");
    }
    assert_eq!(bob.cmd("PWD"), "257 \"/bob\" is the current directory.\r\n");
    assert_eq!(alice.cmd("CWD /Movies"), ABSENT);

    // ro: list and download...
    assert_eq!(nlst(&mut bob, "/Movies"), ["film.mkv"]);
    assert_eq!(bob.download("RETR /Movies/film.mkv").1, b"frames");
    assert_eq!(bob.download("RETR /Public/shared.txt").1, b"shared");
    // ...but no upload, create, delete, rename into.
    upload_ok(&mut bob, "mine.txt", b"bob's");
    for path in ["/Movies/new.txt", "/Public/new.txt"] {
        assert_eq!(
            bob.upload(&format!("STOR {path}"), b"x").0,
            DENIED,
            "{path}"
        );
        assert_eq!(bob.cmd(&format!("MKD {path}.d")), DENIED, "MKD {path}.d");
        assert_eq!(bob.cmd("RNFR mine.txt"), "350 Ready for RNTO.\r\n");
        assert_eq!(bob.cmd(&format!("RNTO {path}")), DENIED, "RNTO {path}");
    }
    assert_eq!(bob.cmd("DELE /Movies/film.mkv"), DENIED);
    assert_eq!(bob.cmd("RMD /Movies"), DENIED);
    assert_eq!(
        crate::support::dir_names(&server.storage("Movies")),
        ["film.mkv"]
    );
    assert!(!server.storage("Public/new.txt").exists());
    assert!(server.storage("bob/mine.txt").is_file());

    // An edit of directories.txt reaches the open session within ~2 s.
    set_grants(server.root(), "*: Public:rw, ~:rw\nbob: Public:rw, ~:rw\n");
    let started = Instant::now();
    assert!(
        wait_until(Duration::from_secs(4), || nlst(&mut bob, "/")
            == ["Public", "bob"]),
        "bob still sees {:?}",
        nlst(&mut bob, "/")
    );
    assert!(
        started.elapsed() <= Duration::from_millis(3500),
        "grant change seen after {:?}",
        started.elapsed()
    );
    assert_eq!(bob.cmd("CWD /Movies"), ABSENT);
    upload_ok(&mut bob, "/Public/new.txt", b"now rw");
}

#[test]
fn malformed_directories_txt_stops_the_start_naming_the_line() {
    for (text, line) in [
        ("# grants\n*: Public:rw, ~:rw\nbob Public:ro\n", 3),
        ("bob: Public:xx\n", 1),
    ] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("data")).unwrap();
        std::fs::write(dir.path().join("data/directories.txt"), text).unwrap();
        let message = match Server::bind(Settings::local(dir.path())) {
            Ok(_) => panic!("a malformed directories.txt ({text:?}) did not stop the start"),
            Err(e) => e.to_string(),
        };
        assert!(
            message.contains(&format!("directories.txt:{line}:")),
            "{text:?}: {message}"
        );
    }
}

// ---- 2. ownership and visibility ----

#[test]
fn private_files_are_absent_for_others_and_only_owners_change_files() {
    let server = TestServer::start();
    // bob may look into (and write in) alice's home: only ownership protects her files there.
    set_grants_and_wait(
        &server,
        "*: Public:rw, ~:rw\nbob: Public:rw, ~:rw, alice:rw\n",
        "bob",
        "alice",
    );
    let mut alice = server.login(ALICE);
    alice.cmd("TYPE I");
    upload_ok(&mut alice, "secret.txt", b"top secret");
    upload_ok(&mut alice, "/Public/shared.txt", b"shared");
    let mut bob = server.login(BOB);
    bob.cmd("TYPE I");

    // alice's private file does not exist for bob.
    assert!(!list(&mut bob, "LIST -la /alice").contains("secret"));
    assert!(!nlst(&mut bob, "/alice").contains(&"secret.txt".to_owned()));
    assert!(!list(&mut bob, "MLSD /alice").contains("secret"));
    let stat = bob.cmd("STAT /alice");
    assert!(stat.starts_with("213-"), "{stat}");
    assert!(!stat.contains("secret"), "{stat}");
    for verb in ["SIZE", "MDTM", "MLST", "STAT", "DELE", "RNFR"] {
        assert_eq!(
            bob.cmd(&format!("{verb} /alice/secret.txt")),
            ABSENT,
            "{verb}"
        );
    }
    assert_eq!(bob.cmd("MFMT 20200101000000 /alice/secret.txt"), ABSENT);
    assert_eq!(bob.cmd("SITE VISIBILITY public /alice/secret.txt"), ABSENT);
    assert_eq!(bob.download("RETR /alice/secret.txt").0, ABSENT);
    assert_eq!(bob.upload("STOR /alice/secret.txt", b"pwned").0, ABSENT);
    assert_eq!(bob.upload("APPE /alice/secret.txt", b"pwned").0, ABSENT);
    let bob_url = format!("{}/%2Falice/secret.txt", server.url(BOB));
    let ran = curl(&[&bob_url]);
    assert_eq!(ran.code(), Some(78), "curl as bob: {ran:?}");
    assert_eq!(
        std::fs::read(server.storage("alice/secret.txt")).unwrap(),
        b"top secret"
    );
    // ...while alice and admins see it.
    assert_eq!(nlst(&mut alice, ""), ["secret.txt"]);
    let mut admin = server.login(ADMIN);
    admin.cmd("TYPE I");
    assert!(nlst(&mut admin, "/alice").contains(&"secret.txt".to_owned()));

    // alice's public file: bob reads it, but cannot change it.
    assert_eq!(bob.download("RETR /Public/shared.txt").1, b"shared");
    let ran = curl(&[&format!("{}/%2FPublic/shared.txt", server.url(BOB))]);
    assert_eq!(ran.ok("curl RETR as bob").stdout, "shared");
    assert_eq!(bob.cmd("DELE /Public/shared.txt"), DENIED);
    assert_eq!(
        bob.cmd("RNFR /Public/shared.txt"),
        "350 Ready for RNTO.\r\n"
    );
    assert_eq!(bob.cmd("RNTO /Public/bobs.txt"), DENIED);
    assert_eq!(bob.upload("APPE /Public/shared.txt", b"more").0, DENIED);
    assert_eq!(bob.upload("STOR /Public/shared.txt", b"mine").0, DENIED);
    assert_eq!(
        bob.cmd("SITE VISIBILITY private /Public/shared.txt"),
        DENIED
    );
    assert_eq!(bob.cmd("VISIBILITY private /Public/shared.txt"), DENIED);
    assert_eq!(bob.cmd("SITE CHMOD 600 /Public/shared.txt"), DENIED);
    assert_eq!(bob.cmd("MFMT 20200101000000 /Public/shared.txt"), DENIED);
    assert_eq!(
        std::fs::read(server.storage("Public/shared.txt")).unwrap(),
        b"shared"
    );
    assert!(!server.storage("Public/bobs.txt").exists());
    // LIST and MLSD tell bob the truth: alice's, public, read-only for him.
    let body = list(&mut bob, "LIST /Public");
    let line = line_of(&body, "shared.txt").expect("shared.txt listed");
    assert!(
        line.starts_with("-rw-r--r--   1 alice    ftp                 6 "),
        "{line}"
    );
    let facts = mlsd_facts(&mut bob, "/Public", "shared.txt");
    assert_eq!(fact(&facts, "UNIX.owner"), "alice", "{facts}");
    let perm = fact(&facts, "perm");
    assert!(perm.contains('r'), "{facts}");
    assert!(!perm.contains(['a', 'd', 'f', 'w']), "bob's perm: {facts}");
    let facts = mlsd_facts(&mut alice, "/Public", "shared.txt");
    assert!(
        ['a', 'd', 'f', 'w']
            .iter()
            .all(|c| fact(&facts, "perm").contains(*c)),
        "alice's perm: {facts}"
    );
    // The owner may overwrite.
    upload_ok(&mut alice, "/Public/shared.txt", b"shared v2");

    // SITE CHMOD maps the other-read bit to visibility.
    upload_ok(&mut alice, "pub.txt", b"soon public");
    assert!(!nlst(&mut bob, "/alice").contains(&"pub.txt".to_owned()));
    let r = alice.cmd("SITE CHMOD 644 pub.txt");
    assert!(r.starts_with("200 "), "{r}");
    assert!(nlst(&mut bob, "/alice").contains(&"pub.txt".to_owned()));
    let body = list(&mut bob, "LIST /alice");
    assert!(
        line_of(&body, "pub.txt")
            .unwrap()
            .starts_with("-rw-r--r--   1 alice "),
        "{body}"
    );
    assert_eq!(bob.download("RETR /alice/pub.txt").1, b"soon public");
    let r = alice.cmd("SITE CHMOD 600 pub.txt");
    assert!(r.starts_with("200 "), "{r}");
    assert!(!nlst(&mut bob, "/alice").contains(&"pub.txt".to_owned()));
    let body = list(&mut alice, "LIST pub.txt");
    assert!(body.starts_with("-rw-------   1 alice "), "{body}");

    // SITE VISIBILITY without a path: the session's default for the next uploads.
    let r = alice.cmd("SITE VISIBILITY private");
    assert!(r.starts_with("200 "), "{r}");
    upload_ok(&mut alice, "/Public/quiet.txt", b"psst");
    assert!(!nlst(&mut bob, "/Public").contains(&"quiet.txt".to_owned()));
    assert_eq!(bob.download("RETR /Public/quiet.txt").0, ABSENT);
    let body = list(&mut alice, "LIST /Public/quiet.txt");
    assert!(body.starts_with("-rw-------   1 alice "), "{body}");
    let r = alice.cmd("VISIBILITY public");
    assert!(r.starts_with("200 "), "bare VISIBILITY: {r}");
    upload_ok(&mut alice, "loud.txt", b"hear me");
    let body = list(&mut bob, "LIST /alice");
    assert!(
        line_of(&body, "loud.txt")
            .unwrap()
            .starts_with("-rw-r--r--   1 alice "),
        "{body}"
    );

    // An admin may do what bob may not.
    assert_eq!(
        admin.cmd("DELE /alice/secret.txt"),
        "250 Delete operation successful.\r\n"
    );
    assert!(!server.storage("alice/secret.txt").exists());
    let r = admin.cmd("SITE CHMOD 600 /Public/shared.txt");
    assert!(r.starts_with("200 "), "{r}");
    assert!(!nlst(&mut bob, "/Public").contains(&"shared.txt".to_owned()));
}

#[test]
fn overwrite_false_answers_553_for_the_owner_too() {
    let server = TestServer::start_with(|s| s.overwrite = false);
    let mut alice = server.login(ALICE);
    alice.cmd("TYPE I");
    upload_ok(&mut alice, "/Public/f.txt", b"first");
    assert_eq!(
        alice.upload("STOR /Public/f.txt", b"second").0,
        "553 Could not create file: it exists.\r\n"
    );
    let mut bob = server.login(BOB);
    let r = bob.upload("STOR /Public/f.txt", b"bob").0;
    assert!(r.starts_with("55"), "bob STOR over alice's file: {r}");
    assert_eq!(
        std::fs::read(server.storage("Public/f.txt")).unwrap(),
        b"first"
    );
}

// ---- 3. metadata follows renames and survives restarts ----

/// What bob and alice see of alice's renamed entries.
fn check_after_renames(server: &TestServer) {
    let mut alice = server.login(ALICE);
    alice.cmd("TYPE I");
    let mut bob = server.login(BOB);
    bob.cmd("TYPE I");
    // alice: everything, with her name and the right bits.
    let body = list(&mut alice, "LIST");
    assert!(
        line_of(&body, "renamed.txt")
            .unwrap()
            .starts_with("-rw-------   1 alice "),
        "{body}"
    );
    assert!(line_of(&body, "file.txt").is_none(), "{body}");
    assert!(line_of(&body, "tree").is_none(), "{body}");
    assert!(
        line_of(&body, "moved")
            .unwrap()
            .starts_with("drwxr-xr-x   "),
        "{body}"
    );
    let body = list(&mut alice, "LIST moved/sub");
    assert!(
        line_of(&body, "private.txt")
            .unwrap()
            .starts_with("-rw-------   1 alice "),
        "{body}"
    );
    assert_eq!(
        alice.download("RETR moved/sub/private.txt").1,
        b"deep secret"
    );
    assert_eq!(alice.download("RETR renamed.txt").1, b"private file");
    let facts = alice.cmd("MLST moved/sub/private.txt");
    assert!(facts.contains(";UNIX.owner=alice; "), "{facts}");
    // bob: the public tree, without the private entries.
    assert_eq!(nlst(&mut bob, "/alice"), ["moved"]);
    assert_eq!(nlst(&mut bob, "/alice/moved"), ["pub.txt", "sub"]);
    assert_eq!(nlst(&mut bob, "/alice/moved/sub"), Vec::<String>::new());
    assert_eq!(bob.download("RETR /alice/moved/pub.txt").1, b"for all");
    for path in ["/alice/renamed.txt", "/alice/moved/sub/private.txt"] {
        assert_eq!(bob.download(&format!("RETR {path}")).0, ABSENT, "{path}");
        assert_eq!(bob.cmd(&format!("SIZE {path}")), ABSENT, "{path}");
    }
    // bob cannot take over the moved public file either.
    assert_eq!(bob.cmd("DELE /alice/moved/pub.txt"), DENIED);
}

#[test]
fn ownership_follows_renames_and_survives_a_restart() {
    let mut server = TestServer::start();
    set_grants_and_wait(
        &server,
        "*: Public:rw, ~:rw\nbob: Public:rw, ~:rw, alice:ro\n",
        "bob",
        "alice",
    );
    let mut alice = server.login(ALICE);
    alice.cmd("TYPE I");
    upload_ok(&mut alice, "file.txt", b"private file");
    for dir in ["tree", "tree/sub"] {
        assert!(alice.cmd(&format!("MKD {dir}")).starts_with("257 "));
        let r = alice.cmd(&format!("SITE CHMOD 755 {dir}"));
        assert!(r.starts_with("200 "), "{r}");
    }
    upload_ok(&mut alice, "tree/sub/private.txt", b"deep secret");
    upload_ok(&mut alice, "tree/pub.txt", b"for all");
    assert!(alice.cmd("SITE CHMOD 644 tree/pub.txt").starts_with("200 "));
    assert_eq!(alice.cmd("RNFR file.txt"), "350 Ready for RNTO.\r\n");
    assert_eq!(alice.cmd("RNTO renamed.txt"), "250 Rename successful.\r\n");
    assert_eq!(alice.cmd("RNFR tree"), "350 Ready for RNTO.\r\n");
    assert_eq!(alice.cmd("RNTO moved"), "250 Rename successful.\r\n");
    drop(alice);
    check_after_renames(&server);

    server.restart();
    check_after_renames(&server);
    // lftp, as bob, mirrors alice's home after the restart: only what is public to him.
    let local = tempfile::tempdir().unwrap();
    let script = format!(
        "set cmd:fail-exit true; set net:max-retries 1; set net:timeout 10; \
         set ftp:ssl-allow false; open -u {},{} -p {} 127.0.0.1; \
         mirror /alice mirror; bye",
        BOB.0,
        BOB.1,
        server.port()
    );
    run_with_timeout(
        Command::new("lftp")
            .arg("-c")
            .arg(script)
            .current_dir(local.path())
            .env("HOME", local.path()),
        60,
    )
    .ok("lftp mirror as bob");
    let mirrored: Vec<_> = crate::support::tree(&local.path().join("mirror"), &[])
        .into_iter()
        .map(|(p, size)| (p.to_string_lossy().into_owned(), size))
        .collect();
    assert_eq!(
        mirrored,
        [
            ("moved".to_owned(), 0),
            ("moved/pub.txt".to_owned(), 7),
            ("moved/sub".to_owned(), 0)
        ]
    );
    // The restarted server compacted the journal; every line is one JSON record.
    let journal = std::fs::read_to_string(server.root().join("data/metadata.jsonl")).unwrap();
    for line in journal.lines() {
        serde_json::from_str::<serde_json::Value>(line)
            .unwrap_or_else(|e| panic!("journal line {line:?}: {e}"));
    }
    assert!(
        journal.contains("/alice/moved/sub/private.txt"),
        "{journal}"
    );
    assert!(!journal.contains("/alice/tree"), "{journal}");
}

// ---- 4. kill -9 during parallel uploads ----

/// A real `ferroftp serve` on 127.0.0.1:0 in `dir`, and its address.
fn serve_binary(dir: &Path) -> (Served, std::net::SocketAddr) {
    let mut served = Served::start(dir, &["--listen", "127.0.0.1:0"]);
    let addr = listening(&served.line());
    (served, addr)
}

fn ferroftp() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ferroftp"))
}

/// `ferroftp user add NAME --password-stdin --dir DIR [--admin]`.
fn cli_add_user(dir: &Path, name: &str, password: &str, admin: bool) {
    let mut cmd = ferroftp();
    cmd.args(["user", "add", name, "--password-stdin", "--dir"])
        .arg(dir);
    if admin {
        cmd.arg("--admin");
    }
    run_with_input(&mut cmd, Some(format!("{password}\n").as_bytes()), 60).ok("user add");
}

/// An instance directory for the real binary: cheap bcrypt, alice and bob, and bob allowed
/// to look into alice's home (so "bob cannot see it" means something).
fn binary_instance() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("ferroftp.toml"),
        "bcrypt_cost = 4\nmax_login_failures = 100\n",
    )
    .unwrap();
    cli_add_user(dir.path(), ALICE.0, ALICE.1, false);
    cli_add_user(dir.path(), BOB.0, BOB.1, false);
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    set_grants(
        dir.path(),
        "*: Public:rw, ~:rw\nbob: Public:rw, ~:rw, alice:ro\n",
    );
    dir
}

fn body_of(thread: usize, i: usize) -> Vec<u8> {
    pseudo_random(
        20_000 + 7_919 * ((thread * 31 + i) % 13),
        (thread * 1000 + i) as u64 + 1,
    )
}

/// A file name and the bytes uploaded under it.
type Uploaded = (String, Vec<u8>);

#[test]
fn kill_9_during_parallel_uploads_loses_no_acknowledged_file() {
    let dir = binary_instance();
    let (mut serve, addr) = serve_binary(dir.path());
    let stop = Arc::new(AtomicBool::new(false));
    let acknowledged: Arc<Mutex<Vec<Uploaded>>> = Arc::default();
    let workers: Vec<_> = (0..4)
        .map(|t| {
            let stop = Arc::clone(&stop);
            let acknowledged = Arc::clone(&acknowledged);
            std::thread::spawn(move || {
                let Ok(mut ftp) = suppaftp::FtpStream::connect(addr) else {
                    return;
                };
                ftp.get_ref()
                    .set_read_timeout(Some(Duration::from_secs(10)))
                    .unwrap();
                ftp.login(ALICE.0, ALICE.1).expect("login");
                ftp.transfer_type(suppaftp::types::FileType::Binary)
                    .unwrap();
                for i in 0..200 {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let name = format!("up-{t}-{i}.bin");
                    let body = body_of(t, i);
                    match ftp.put_file(&name, &mut &body[..]) {
                        Ok(_) => acknowledged.lock().unwrap().push((name, body)),
                        Err(_) => return,
                    }
                }
            })
        })
        .collect();
    // Kill once a good number of uploads got their 226 (bounded).
    let enough = wait_until(Duration::from_secs(20), || {
        acknowledged.lock().unwrap().len() >= 24
    });
    serve.kill9();
    stop.store(true, Ordering::SeqCst);
    for w in workers {
        w.join().expect("upload thread");
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(
        enough && !acknowledged.is_empty(),
        "only {} uploads acknowledged in 20 s",
        acknowledged.len()
    );
    // The journal as kill -9 left it: every complete line is a JSON record.
    let journal = std::fs::read(dir.path().join("data/metadata.jsonl")).unwrap();
    for line in journal.split_inclusive(|b| *b == b'\n') {
        if line.ends_with(b"\n") {
            serde_json::from_slice::<serde_json::Value>(line).unwrap_or_else(|e| {
                panic!("journal line {:?}: {e}", String::from_utf8_lossy(line))
            });
        }
    }

    let (_serve, addr) = serve_binary(dir.path());
    let mut alice = Raw::connect(addr);
    alice.reply();
    alice.cmd(&format!("USER {}", ALICE.0));
    assert_eq!(alice.cmd(&format!("PASS {}", ALICE.1)), OK_LOGIN);
    alice.cmd("TYPE I");
    let mut bob = Raw::connect(addr);
    bob.reply();
    bob.cmd(&format!("USER {}", BOB.0));
    assert_eq!(bob.cmd(&format!("PASS {}", BOB.1)), OK_LOGIN);
    let listing = list(&mut alice, "LIST -la /alice");
    let bob_sees = nlst(&mut bob, "/alice");
    for (name, body) in &acknowledged {
        let line = line_of(&listing, name)
            .unwrap_or_else(|| panic!("acknowledged {name} missing after kill -9: {listing}"));
        assert!(
            line.starts_with("-rw-------   1 alice "),
            "{name} lost its owner or visibility: {line}"
        );
        assert_eq!(
            &std::fs::read(dir.path().join("server_storage/alice").join(name)).unwrap(),
            body,
            "{name} bytes"
        );
        assert!(!bob_sees.contains(name), "bob sees alice's private {name}");
        assert_eq!(bob.cmd(&format!("SIZE /alice/{name}")), ABSENT, "{name}");
    }
    assert_eq!(
        alice.download(&format!("RETR {}", acknowledged[0].0)).1,
        acknowledged[0].1
    );
    // Whatever else is under a final name is whole (an unacknowledged upload that was
    // committed just before the kill), never a half file.
    for entry in std::fs::read_dir(dir.path().join("server_storage/alice")).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if let Some((t, i)) = name
            .strip_prefix("up-")
            .and_then(|n| n.strip_suffix(".bin"))
            .and_then(|n| n.split_once('-'))
        {
            let (t, i): (usize, usize) = (t.parse().unwrap(), i.parse().unwrap());
            assert_eq!(
                std::fs::read(dir.path().join("server_storage/alice").join(&name)).unwrap(),
                body_of(t, i),
                "{name} is a half file"
            );
        }
    }
    // No upload temp file shows in any listing, and the restart sweeps them from disk.
    for verb in ["NLST -a /alice", "LIST -la /alice", "MLSD /alice", "MLSD /"] {
        for raw in [&mut alice, &mut bob] {
            let body = list(raw, verb);
            assert!(!body.contains(".ferroftp-upload"), "{verb}: {body}");
        }
    }
    let temps = || {
        std::fs::read_dir(dir.path().join("server_storage/alice"))
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with(".ferroftp-upload")
            })
            .count()
    };
    assert!(
        wait_until(Duration::from_secs(5), || temps() == 0),
        "{} stale temp files after restart",
        temps()
    );
    // The restarted server compacted the journal: every line parses.
    let journal = std::fs::read_to_string(dir.path().join("data/metadata.jsonl")).unwrap();
    for line in journal.lines() {
        serde_json::from_str::<serde_json::Value>(line)
            .unwrap_or_else(|e| panic!("journal line {line:?}: {e}"));
    }
    drop(serve);
}

// ---- 5. admin commands ----

#[test]
fn admin_commands_bare_and_as_site() {
    // This test checks many refused logins on purpose.
    let server = TestServer::start_with(|s| s.throttle.max_failures = 1000);
    let mut admin = server.login(ADMIN);
    let help = admin.cmd("SITE HELP");
    assert!(help.starts_with("214"), "{help}");
    for word in [
        "USERS",
        "ADDUSER",
        "DELUSER",
        "BAN",
        "UNBAN",
        "VISIBILITY",
        "CHMOD",
    ] {
        assert!(help.contains(word), "SITE HELP lacks {word}: {help}");
    }
    assert_eq!(admin.cmd("HELP SITE"), help);

    // ADDUSER, bare and as SITE: the account logs in and gets a home.
    assert_eq!(
        admin.cmd("ADDUSER carol carol-pw"),
        "200 User carol added.\r\n"
    );
    assert_eq!(
        admin.cmd("SITE ADDUSER dave dave-pw"),
        "200 User dave added.\r\n"
    );
    assert!(server.storage("carol").is_dir() && server.storage("dave").is_dir());
    let mut carol = server.login(("carol", "carol-pw"));
    assert_eq!(
        carol.cmd("PWD"),
        "257 \"/carol\" is the current directory.\r\n"
    );
    carol.cmd("TYPE I");
    upload_ok(&mut carol, "c.txt", b"carol's");
    let mut dave = server.login(("dave", "dave-pw"));
    dave.cmd("TYPE I");
    upload_ok(&mut dave, "d.txt", b"dave's");
    let r = admin.cmd("ADDUSER carol other");
    assert!(r.starts_with("550 "), "duplicate ADDUSER: {r}");

    // SITE USERS: `name role state` per account.
    let users = admin.cmd("SITE USERS");
    assert!(users.starts_with("200-"), "{users}");
    for line in [
        "admin admin active",
        "alice user active",
        "bob user active",
        "carol user active",
    ] {
        assert!(users.contains(line), "SITE USERS lacks {line:?}: {users}");
    }

    // Non-admins get 550 for each.
    let mut alice = server.login(ALICE);
    for cmd in [
        "ADDUSER eve eve-pw",
        "SITE ADDUSER eve eve-pw",
        "DELUSER bob",
        "SITE DELUSER bob",
        "BAN bob",
        "SITE BAN bob",
        "UNBAN bob",
        "SITE UNBAN bob",
        "SITE USERS",
    ] {
        assert_eq!(alice.cmd(cmd), DENIED, "{cmd} as alice");
    }
    assert!(!server.storage("eve").exists());
    assert_eq!(try_login(server.addr, "eve", "eve-pw"), LOGIN_INCORRECT);
    assert_eq!(try_login(server.addr, BOB.0, BOB.1), OK_LOGIN);

    // DELUSER: the open session ends, files stay, the account cannot log in.
    carol.set_timeout(Duration::from_secs(5));
    assert_eq!(
        admin.cmd("DELUSER carol"),
        "200 User carol deleted; files kept.\r\n"
    );
    assert_eq!(
        carol.try_reply().as_deref(),
        Some("421 Account disabled.\r\n")
    );
    assert_eq!(
        admin.cmd("SITE DELUSER dave"),
        "200 User dave deleted; files kept.\r\n"
    );
    drop(dave);
    assert_eq!(
        std::fs::read(server.storage("carol/c.txt")).unwrap(),
        b"carol's"
    );
    assert_eq!(
        std::fs::read(server.storage("dave/d.txt")).unwrap(),
        b"dave's"
    );
    assert_eq!(try_login(server.addr, "carol", "carol-pw"), LOGIN_INCORRECT);
    assert_eq!(try_login(server.addr, "dave", "dave-pw"), LOGIN_INCORRECT);
    assert!(!admin.cmd("SITE USERS").contains("carol"));

    // BAN: an idle open session gets 421 within ~3 s; logins answer 530; UNBAN restores.
    let mut bob = server.login(BOB);
    bob.set_timeout(Duration::from_secs(5));
    let started = Instant::now();
    assert_eq!(admin.cmd("BAN bob"), "200 User bob banned.\r\n");
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
    assert_eq!(try_login(server.addr, BOB.0, BOB.1), LOGIN_INCORRECT);
    assert!(admin.cmd("SITE USERS").contains("bob user banned"));
    assert_eq!(admin.cmd("UNBAN bob"), "200 User bob unbanned.\r\n");
    assert_eq!(try_login(server.addr, BOB.0, BOB.1), OK_LOGIN);
    assert_eq!(admin.cmd("SITE BAN bob"), "200 User bob banned.\r\n");
    assert_eq!(try_login(server.addr, BOB.0, BOB.1), LOGIN_INCORRECT);
    assert_eq!(admin.cmd("SITE UNBAN bob"), "200 User bob unbanned.\r\n");
    assert_eq!(try_login(server.addr, BOB.0, BOB.1), OK_LOGIN);

    // A banned user mid-transfer is cut off: 426, then 421; the upload leaves nothing.
    let mut bob = server.login(BOB);
    bob.cmd("TYPE I");
    bob.set_timeout(Duration::from_secs(5));
    let mut data = bob.epsv();
    let opening = bob.cmd("STOR slow.bin");
    assert!(opening.starts_with("150 "), "{opening}");
    let feeding = Arc::new(AtomicBool::new(true));
    let feeder = {
        let feeding = Arc::clone(&feeding);
        std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(10);
            while feeding.load(Ordering::SeqCst) && Instant::now() < deadline {
                if data.write_all(&[7u8; 4096]).is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    assert_eq!(admin.cmd("SITE BAN bob"), "200 User bob banned.\r\n");
    assert_eq!(
        bob.try_reply().as_deref(),
        Some("426 Connection closed; transfer aborted.\r\n")
    );
    assert_eq!(
        bob.try_reply().as_deref(),
        Some("421 Account disabled.\r\n")
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    feeding.store(false, Ordering::SeqCst);
    feeder.join().unwrap();
    assert!(
        wait_until(Duration::from_secs(5), || server.shared.active_sessions()
            == 2),
        "sessions: {}",
        server.shared.active_sessions()
    );
    assert!(!server.storage("bob/slow.bin").exists());
    let leftovers: Vec<_> = crate::support::dir_names(&server.storage("bob"))
        .into_iter()
        .filter(|n| n.starts_with(".ferroftp-upload"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

// ---- 6. SIGNUP ----

#[test]
fn signup_only_when_allowed_and_rate_limited() {
    let server = TestServer::start();
    let mut raw = server.raw();
    assert_eq!(
        raw.cmd("SIGNUP erin erin-pw"),
        "502 SIGNUP is disabled on this server.\r\n"
    );
    assert_eq!(
        raw.cmd("SITE SIGNUP erin erin-pw"),
        "502 SIGNUP is disabled on this server.\r\n"
    );
    assert!(!server.storage("erin").exists());
    drop(raw);

    let server = TestServer::start_with(|s| s.allow_signup = true);
    let mut raw = server.raw();
    let r = raw.cmd("SIGNUP erin erin-pw");
    assert!(r.starts_with("200 "), "{r}");
    assert_eq!(try_login(server.addr, "erin", "erin-pw"), OK_LOGIN);
    assert!(server.storage("erin").is_dir());
    // Taken and reserved names are refused with a 5xx and create nothing; they do not count
    // towards the limit.
    for (name, code) in [
        ("alice", "550 "),
        ("erin", "550 "),
        ("Public", "550 "),
        ("anonymous", "501 "),
        ("ftp", "501 "),
        (".x", "501 "),
    ] {
        let r = raw.cmd(&format!("SIGNUP {name} some-pw"));
        assert!(r.starts_with(code), "SIGNUP {name}: {r}");
    }
    assert!(!server.storage(".x").exists());
    assert_eq!(try_login(server.addr, ALICE.0, ALICE.1), OK_LOGIN);
    // Three signups per IP and hour; the fourth is refused.
    let r = raw.cmd("SITE SIGNUP frank frank-pw");
    assert!(r.starts_with("200 "), "{r}");
    let r = raw.cmd("SIGNUP gina gina-pw");
    assert!(r.starts_with("200 "), "{r}");
    let r = raw.cmd("SIGNUP hank hank-pw");
    assert!(r.starts_with("550 "), "fourth signup: {r}");
    assert_eq!(try_login(server.addr, "hank", "hank-pw"), LOGIN_INCORRECT);
    assert!(!server.storage("hank").exists());
    assert_eq!(try_login(server.addr, "gina", "gina-pw"), OK_LOGIN);
    // A logged-in session cannot sign up.
    let mut alice = server.login(ALICE);
    let r = alice.cmd("SIGNUP ivan ivan-pw");
    assert!(r.starts_with('5'), "{r}");
}

// ---- 7. anonymous ----

#[test]
fn anonymous_is_read_only_public_and_only_when_enabled() {
    let server = TestServer::start();
    assert_eq!(try_login(server.addr, "anonymous", "a@b"), LOGIN_INCORRECT);
    assert_eq!(try_login(server.addr, "ftp", "x"), LOGIN_INCORRECT);
    drop(server);

    let server = TestServer::start_with(|s| s.anonymous = true);
    place(&server, "Public/pub.txt", b"for everyone", "alice", true);
    place(&server, "Public/priv.txt", b"alice only", "alice", false);
    for user in ["anonymous", "ftp", "ANONYMOUS"] {
        let mut raw = server.raw();
        assert!(raw.cmd(&format!("USER {user}")).starts_with("331 "));
        let r = raw.cmd("PASS whatever@example.com");
        assert!(r.starts_with("230 "), "{user}: {r}");
        assert_eq!(
            raw.cmd("PWD"),
            "257 \"/Public\" is the current directory.\r\n"
        );
        raw.cmd("TYPE I");
        assert_eq!(nlst(&mut raw, ""), ["pub.txt"]);
        assert_eq!(nlst(&mut raw, "/"), ["Public"]);
        assert_eq!(raw.download("RETR pub.txt").1, b"for everyone");
        assert_eq!(raw.download("RETR priv.txt").0, ABSENT);
        assert_eq!(raw.cmd("CWD /alice"), ABSENT);
        assert_eq!(raw.upload("STOR new.txt", b"x").0, DENIED);
        assert_eq!(raw.upload("APPE pub.txt", b"x").0, DENIED);
        assert_eq!(raw.cmd("MKD d"), DENIED);
        assert_eq!(raw.cmd("DELE pub.txt"), DENIED);
        assert_eq!(raw.cmd("SITE USERS"), DENIED);
    }
    // curl logs in anonymously by default.
    let ran = curl(&[&format!("ftp://127.0.0.1:{}/pub.txt", server.port())]);
    assert_eq!(ran.ok("curl anonymous").stdout, "for everyone");
    assert_eq!(
        crate::support::dir_names(&server.storage("Public")),
        ["priv.txt", "pub.txt"]
    );
    // Named accounts still work as usual.
    assert_eq!(try_login(server.addr, ALICE.0, ALICE.1), OK_LOGIN);
}

// ---- 8. concurrent account changes ----

#[test]
fn cli_and_server_add_accounts_concurrently() {
    let server = TestServer::start();
    let dir: PathBuf = server.root().to_path_buf();
    // The CLI reads bcrypt_cost from the instance config; the in-process server uses 4 too.
    std::fs::write(dir.join("ferroftp.toml"), "bcrypt_cost = 4\n").unwrap();
    let mut admin = server.login(ADMIN);
    let cli: Vec<_> = (0..10)
        .map(|n| {
            let dir = dir.clone();
            std::thread::spawn(move || {
                cli_add_user(&dir, &format!("cli{n}"), &format!("cli{n}-pw"), false)
            })
        })
        .collect();
    for n in 0..10 {
        assert_eq!(
            admin.cmd(&format!("ADDUSER srv{n} srv{n}-pw")),
            format!("200 User srv{n} added.\r\n")
        );
    }
    for t in cli {
        t.join().expect("user add thread");
    }
    let expected: BTreeSet<String> = (0..10)
        .flat_map(|n| [format!("cli{n}"), format!("srv{n}")])
        .chain(["admin", "alice", "bob"].map(String::from))
        .collect();
    let credentials = std::fs::read_to_string(dir.join("data/credentials.txt")).unwrap();
    let in_file: BTreeSet<String> = credentials
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| l.split(':').next().unwrap().to_owned())
        .collect();
    assert_eq!(in_file, expected, "{credentials}");
    let listed = run_with_timeout(ferroftp().args(["user", "list", "--dir"]).arg(&dir), 30)
        .ok("user list")
        .stdout;
    for name in &expected {
        assert!(
            listed
                .lines()
                .any(|l| l.split_whitespace().next() == Some(name)),
            "user list lacks {name}: {listed}"
        );
    }
    // The server sees the CLI's accounts (reload within 2 s) and its own at once.
    assert_eq!(try_login(server.addr, "srv7", "srv7-pw"), OK_LOGIN);
    assert!(
        wait_until(Duration::from_secs(5), || try_login(
            server.addr,
            "cli3",
            "cli3-pw"
        ) == OK_LOGIN),
        "cli3 cannot log in"
    );
    let users = admin.cmd("SITE USERS");
    for name in &expected {
        assert!(users.contains(&format!(" {name} ")), "{users}");
    }
}

/// A deleted account's files stay, but a new account of the same name does not inherit them:
/// its private files stay hidden from the newcomer and show a `~name` tombstone owner.
#[test]
fn a_new_account_with_a_deleted_name_inherits_nothing() {
    let server = TestServer::start();
    let mut admin = server.login(ADMIN);
    assert_eq!(
        admin.cmd("ADDUSER carol carol-pw"),
        "200 User carol added.\r\n"
    );
    let mut carol = server.login(("carol", "carol-pw"));
    carol.cmd("TYPE I");
    upload_ok(&mut carol, "/Public/secret.txt", b"mine");
    assert_eq!(
        carol.cmd("SITE VISIBILITY private /Public/secret.txt"),
        "200 /Public/secret.txt is now private.\r\n"
    );
    assert_eq!(
        admin.cmd("DELUSER carol"),
        "200 User carol deleted; files kept.\r\n"
    );
    assert_eq!(
        admin.cmd("ADDUSER carol other-pw"),
        "200 User carol added.\r\n"
    );
    let mut newcomer = server.login(("carol", "other-pw"));
    assert_eq!(newcomer.cmd("SIZE /Public/secret.txt"), ABSENT);
    assert!(!nlst(&mut newcomer, "/Public").contains(&"secret.txt".to_owned()));
    let listing = list(&mut admin, "LIST /Public");
    let line = line_of(&listing, "secret.txt").expect("admin sees the file");
    assert!(line.starts_with("-rw-------   1 ~carol "), "{line}");
}

/// STOU picks another name when someone else's private file hides under the first one.
#[test]
fn stou_steps_over_a_hidden_private_file() {
    let server = TestServer::start();
    place(&server, "Public/report", b"alice's", "alice", false);
    let mut bob = server.login(BOB);
    bob.cmd("TYPE I");
    bob.cmd("CWD /Public");
    let (opening, done) = bob.upload("STOU report", b"bob's");
    assert_eq!(opening, "150 FILE: report.1\r\n");
    assert_eq!(
        done,
        "226 Transfer complete (unique file name: report.1).\r\n"
    );
    assert_eq!(
        std::fs::read(server.storage("Public/report")).unwrap(),
        b"alice's"
    );
    assert_eq!(
        std::fs::read(server.storage("Public/report.1")).unwrap(),
        b"bob's"
    );
}

/// SECURITY (review): an upload that started while a name was free must not replace the file
/// someone else published under it meanwhile.
#[test]
fn a_racing_upload_never_replaces_a_file_published_meanwhile() {
    let server = TestServer::start();
    let mut alice = server.login(ALICE);
    let mut bob = server.login(BOB);
    alice.cmd("TYPE I");
    bob.cmd("TYPE I");
    let mut data = alice.epsv();
    assert!(alice.cmd("STOR /Public/report.txt").starts_with("150 "));
    data.write_all(b"ALICE WAS HERE").unwrap();
    assert_eq!(
        bob.cmd("SITE VISIBILITY private"),
        "200 New uploads of this session will be private.\r\n"
    );
    upload_ok(&mut bob, "/Public/report.txt", b"bob's report");
    drop(data);
    assert_eq!(alice.reply(), "550 File exists.\r\n");
    assert_eq!(
        std::fs::read(server.storage("Public/report.txt")).unwrap(),
        b"bob's report"
    );
    assert_eq!(
        alice.cmd("SIZE /Public/report.txt"),
        ABSENT,
        "still bob's private file"
    );
    assert_eq!(bob.cmd("SIZE /Public/report.txt"), "213 12\r\n");
}

/// SECURITY (review): SIGNUP cannot take over a shared directory by naming an account after it.
#[test]
fn signup_cannot_take_a_directory_name() {
    let server = TestServer::start_with(|s| s.allow_signup = true);
    std::fs::create_dir_all(server.storage("Movies")).unwrap();
    set_grants_and_wait(
        &server,
        "*: Public:rw, ~:rw\nbob: Public:ro, ~:rw, Movies:ro, Music:ro\n",
        "bob",
        "Music",
    );
    let mut raw = server.raw();
    assert_eq!(
        raw.cmd("SITE SIGNUP Movies pw-123456"),
        "550 That name is not available.\r\n"
    );
    assert_eq!(
        raw.cmd("SIGNUP movies pw-123456"),
        "550 That name is not available.\r\n"
    );
    assert_eq!(
        raw.cmd("SIGNUP Music pw-123456"),
        "550 That name is not available.\r\n"
    );
    assert_eq!(
        raw.cmd("SIGNUP dora pw-123456"),
        "200 User dora created; log in with USER and PASS.\r\n"
    );
}

/// SECURITY (review): the owner of a directory cannot carry other users' files away with it
/// (RNFR/RNTO of the directory) nor hide them (making the directory private).
#[test]
fn a_directory_owner_cannot_move_or_hide_others_files() {
    let server = TestServer::start();
    let mut bob = server.login(BOB);
    let mut alice = server.login(ALICE);
    bob.cmd("TYPE I");
    alice.cmd("TYPE I");
    assert!(bob.cmd("MKD /Public/team").starts_with("257 "));
    upload_ok(&mut alice, "/Public/team/alice-notes.txt", b"notes");
    assert_eq!(bob.cmd("RNFR /Public/team"), "350 Ready for RNTO.\r\n");
    assert_eq!(bob.cmd("RNTO /bob/team"), DENIED);
    assert_eq!(bob.cmd("SITE VISIBILITY private /Public/team"), DENIED);
    assert_eq!(alice.cmd("SIZE /Public/team/alice-notes.txt"), "213 5\r\n");
    // With only his own files inside, he may.
    assert!(bob.cmd("MKD /Public/mine").starts_with("257 "));
    upload_ok(&mut bob, "/Public/mine/x.txt", b"x");
    assert_eq!(
        bob.cmd("SITE VISIBILITY private /Public/mine"),
        "200 /Public/mine is now private.\r\n"
    );
    assert_eq!(bob.cmd("RNFR /Public/mine"), "350 Ready for RNTO.\r\n");
    assert_eq!(bob.cmd("RNTO /bob/mine"), "250 Rename successful.\r\n");
}
