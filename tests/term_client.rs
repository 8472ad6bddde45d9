//! `ferroftp client` as a user runs it (the binary, `CARGO_BIN_EXE_ferroftp`), against two
//! servers on loopback: ferroftp itself (in-process `TestServer`) and pyftpdlib, an
//! independent implementation. Scripts run with `-c`; one test drives the interactive mode
//! in a tmux pseudo-terminal. Every transfer is checked by SHA-256; every run is bounded.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::{
    ADMIN, ALICE, Ran, TestServer, pseudo_random, run_with_timeout, sha256_file, wait_until,
};

/// Seconds one client run may take.
const CLIENT_TIMEOUT: u64 = 60;

/// A temp working directory for the client (its `./downloads/`), with its own config dir.
struct Work {
    dir: tempfile::TempDir,
}

impl Work {
    fn new() -> Work {
        let work = Work {
            dir: tempfile::tempdir().expect("temp dir"),
        };
        work.write("big.bin", &pseudo_random(3 * 1024 * 1024 + 17, 6));
        work.write("notes.txt", b"line one\nline two\n");
        work.write("a1.dat", &pseudo_random(1000, 61));
        work.write("a2.dat", &pseudo_random(2000, 62));
        work.write("tree/x.bin", &pseudo_random(5000, 63));
        work.write("tree/sub/y.bin", &pseudo_random(7000, 64));
        work
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn write(&self, rel: &str, bytes: &[u8]) {
        let path = self.path(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }

    fn sha(&self, rel: &str) -> String {
        sha256_file(&self.path(rel))
    }

    fn config_dir(&self) -> PathBuf {
        self.path("config")
    }

    /// `ferroftp client ARGS` in this directory, with nothing inherited that matters.
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ferroftp"));
        cmd.arg("client")
            .args(args)
            .current_dir(self.dir.path())
            .env("XDG_CONFIG_HOME", self.config_dir())
            .env("HOME", self.dir.path())
            .env_remove("FERROFTP_PASSWORD")
            .env_remove("RUST_LOG");
        cmd
    }

    fn run(&self, args: &[&str]) -> Ran {
        run_with_timeout(&mut self.command(args), CLIENT_TIMEOUT)
    }

    fn pin(&self, key: &str, fingerprint: &str) {
        self.write(
            "config/ferroftp/known_hosts",
            format!("{key} {fingerprint}\n").as_bytes(),
        );
    }

    /// Leftover `.part` files anywhere under the work dir.
    fn part_files(&self) -> Vec<PathBuf> {
        crate::support::tree(self.dir.path(), &[])
            .into_iter()
            .map(|(p, _)| p)
            .filter(|p| p.to_string_lossy().ends_with(".part"))
            .collect()
    }
}

/// The `ls -l` line for `name` in client output.
fn ls_line<'a>(out: &'a str, name: &str) -> &'a str {
    out.lines()
        .find(|l| l.starts_with(['-', 'd']) && l.ends_with(&format!(" {name}")))
        .unwrap_or_else(|| panic!("no listing line for {name} in:\n{out}"))
}

/// A failed run: non-zero exit and exactly one line on stderr, containing `expected`.
fn assert_one_line_failure(ran: &Ran, expected: &str) {
    assert!(
        !ran.success(),
        "expected failure, got success\nstdout: {}",
        ran.stdout
    );
    let lines: Vec<&str> = ran.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one stderr line, got: {:?}", ran.stderr);
    assert!(
        lines[0].contains(expected),
        "stderr {:?} should contain {expected:?}",
        lines[0]
    );
    assert!(!ran.stderr.contains("panicked"), "{}", ran.stderr);
}

#[test]
fn scripted_session_does_every_command_against_ferroftp() {
    let server = TestServer::start();
    let work = Work::new();
    let url = server.url(ALICE);
    let script = "pwd; mkdir sub; cd sub; pwd; cdup; \
        put big.bin; put notes.txt private; put big.bin pub.bin public; dir; \
        rename big.bin moved.bin; get moved.bin; get moved.bin copy.bin; \
        mode port; get pub.bin active.bin; put a1.dat active-up.dat; mode pasv; \
        mput a*.dat; mget a?.dat; put -r tree; get -r tree; \
        ascii; put notes.txt notes-a.txt; get notes-a.txt notes-back.txt; binary; \
        site HELP; quote NOOP; help; help get; \
        show directories; show directory Public; \
        put notes.txt /Public/shared.txt public; cd /Public; download file shared.txt; cd /alice; \
        delete moved.bin; rm active-up.dat; rmdir sub; close; open URL; pwd; !disconnect; pwd";
    let script = script.replace("URL", &url);
    let ran = work.run(&[&url, "-c", &script]).ok("scripted session");
    let out = &ran.stdout;

    // Navigation.
    assert!(out.lines().any(|l| l == "/alice"), "{out}");
    assert!(out.lines().any(|l| l == "/alice/sub"), "{out}");
    // Transfers, byte for byte.
    let big = work.sha("big.bin");
    assert_eq!(work.sha("downloads/moved.bin"), big);
    assert_eq!(work.sha("copy.bin"), big);
    assert_eq!(work.sha("active.bin"), big, "active mode download");
    assert_eq!(
        sha256_file(&server.storage("alice/pub.bin")),
        big,
        "upload under another name"
    );
    assert_eq!(
        sha256_file(&server.storage("alice/a1.dat")),
        work.sha("a1.dat")
    );
    assert_eq!(work.sha("downloads/a1.dat"), work.sha("a1.dat"));
    assert_eq!(work.sha("downloads/a2.dat"), work.sha("a2.dat"));
    assert_eq!(
        sha256_file(&server.storage("alice/tree/sub/y.bin")),
        work.sha("tree/sub/y.bin")
    );
    assert_eq!(work.sha("downloads/tree/x.bin"), work.sha("tree/x.bin"));
    assert_eq!(
        work.sha("downloads/tree/sub/y.bin"),
        work.sha("tree/sub/y.bin")
    );
    assert_eq!(work.sha("notes-back.txt"), work.sha("notes.txt"), "ASCII");
    assert_eq!(work.sha("downloads/shared.txt"), work.sha("notes.txt"));
    // Visibility from `put … private|public`, seen by `ls`.
    assert!(
        ls_line(out, "notes.txt").starts_with("-rw------- "),
        "{}",
        ls_line(out, "notes.txt")
    );
    assert!(
        ls_line(out, "pub.bin").starts_with("-rw-r--r-- "),
        "{}",
        ls_line(out, "pub.bin")
    );
    // show directories lists /, show directory Public lists it.
    assert!(out.lines().any(|l| l.ends_with(" Public")), "{out}");
    assert!(out.lines().any(|l| l.ends_with(" alice")), "{out}");
    // SITE, quote, help.
    assert!(out.contains("214 "), "SITE HELP reply: {out}");
    assert!(out.contains("200 "), "NOOP reply: {out}");
    assert!(out.contains("get [-c] [-r] REMOTE [LOCAL]"), "{out}");
    // Removals happened on the server; the script stopped at !disconnect.
    assert!(!server.storage("alice/moved.bin").exists());
    assert!(!server.storage("alice/active-up.dat").exists());
    assert!(!server.storage("alice/sub").exists());
    assert!(work.part_files().is_empty(), "{:?}", work.part_files());
    assert!(ran.stderr.is_empty(), "stderr: {}", ran.stderr);
}

#[test]
fn get_c_resumes_a_partial_download_with_rest() {
    let server = TestServer::start();
    let work = Work::new();
    let url = server.url(ALICE);
    work.run(&[&url, "-c", "put big.bin"]).ok("upload");
    let body = std::fs::read(work.path("big.bin")).unwrap();
    work.write("downloads/big.bin.part", &body[..1024 * 1024]);
    let ran = work.run(&[&url, "-c", "get -c big.bin"]).ok("resume");
    assert!(
        ran.stdout.contains("resumed at 1048576 bytes"),
        "{}",
        ran.stdout
    );
    assert_eq!(work.sha("downloads/big.bin"), work.sha("big.bin"));
    assert!(work.part_files().is_empty());
}

/// `put -c` continues an upload the server has the start of (REST + STOR), and says so.
#[test]
fn put_c_resumes_a_partial_upload_with_rest() {
    let server = TestServer::start();
    let work = Work::new();
    let url = server.url(ALICE);
    let body = std::fs::read(work.path("big.bin")).unwrap();
    crate::support::place(&server, "alice/big.bin", &body[..1_000_000], "alice", false);
    let ran = work.run(&[&url, "-c", "put -c big.bin"]).ok("resume");
    assert!(
        ran.stdout.contains("resumed at 1000000 bytes"),
        "{}",
        ran.stdout
    );
    assert_eq!(
        sha256_file(&server.storage("alice/big.bin")),
        work.sha("big.bin")
    );
    let ran = work.run(&[&url, "-c", "put -c big.bin"]).ok("again");
    assert_eq!(
        ran.stdout.lines().last(),
        Some(format!("big.bin is already complete ({} bytes)", body.len()).as_str())
    );
    // Nothing there yet: the whole file.
    let ran = work
        .run(&[&url, "-c", "put -c big.bin fresh.bin"])
        .ok("fresh");
    assert!(!ran.stdout.contains("resumed"), "{}", ran.stdout);
    assert_eq!(
        sha256_file(&server.storage("alice/fresh.bin")),
        work.sha("big.bin")
    );
    work.write("small.bin", b"tiny");
    let ran = work.run(&[&url, "-c", "put -c small.bin big.bin"]);
    assert_one_line_failure(
        &ran,
        "is longer than small.bin (4 bytes): nothing to resume",
    );
    let ran = work.run(&[&url, "-c", "put -c -r big.bin"]);
    assert_one_line_failure(&ran, "usage: put [-c|-r] LOCAL [REMOTE] [public|private]");
}

#[test]
fn failures_stop_the_script_with_the_server_reply() {
    let server = TestServer::start();
    let work = Work::new();
    let url = server.url(ALICE);
    let ran = work.run(&[&url, "-c", "get nope.txt; mkdir after"]);
    assert_one_line_failure(&ran, "550 No such file or directory.");
    assert!(ran.stderr.contains("get nope.txt"), "{}", ran.stderr);
    assert!(!server.storage("alice/after").exists(), "script went on");
    assert!(!work.path("downloads/nope.txt").exists());
    assert!(work.part_files().is_empty());
    // The same through stdin: a non-terminal stdin is a script too.
    let ran = crate::support::run_with_input(
        &mut work.command(&[&url]),
        Some(b"pwd\nrm nope.txt\nmkdir after\n"),
        CLIENT_TIMEOUT,
    );
    assert_one_line_failure(&ran, "550 ");
    assert!(!server.storage("alice/after").exists());
}

#[test]
fn bad_input_is_one_clear_line() {
    let work = Work::new();
    // Connection refused: a port nobody listens on.
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let ran = work.run(&[&format!("ftp://u:p@127.0.0.1:{port}"), "-c", "ls"]);
    assert_one_line_failure(&ran, "cannot connect to 127.0.0.1:");
    // A host that does not resolve.
    let ran = work.run(&["ftp://u:p@no-such-host.invalid", "-c", "ls"]);
    assert_one_line_failure(&ran, "cannot resolve no-such-host.invalid");
    // A server that accepts and never greets: a timeout.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ftp://u:p@{}", silent.local_addr().unwrap());
    let ran = work.run(&[&url, "--timeout", "1", "-c", "ls"]);
    assert_one_line_failure(&ran, "no answer from 127.0.0.1:");
    // TLS to a server that does not speak it.
    let ran = work.run(&[
        &url.replace("ftp://", "ftps://"),
        "--implicit",
        "--timeout",
        "1",
    ]);
    assert!(!ran.success());
    drop(silent);

    let server = TestServer::start();
    let url = server.url(ALICE);
    let ran = work.run(&[&url, "-c", "put missing.bin"]);
    assert_one_line_failure(&ran, "cannot open local file missing.bin");
    let ran = work.run(&[&url, "-c", "frobnicate"]);
    assert_one_line_failure(&ran, "unknown command");
    let ran = work.run(&[&url, "-c", "rename onlyone"]);
    assert_one_line_failure(&ran, "usage: rename FROM TO");
    let ran = work.run(&[
        &format!("ftp://alice:wrong@127.0.0.1:{}", server.port()),
        "-c",
        "ls",
    ]);
    assert_one_line_failure(&ran, "530 ");
    assert!(
        !ran.stderr.contains("wrong"),
        "password leaked: {}",
        ran.stderr
    );
    // No password anywhere and no terminal to ask.
    let ran = work.run(&[
        &format!("ftp://alice@127.0.0.1:{}", server.port()),
        "-c",
        "ls",
    ]);
    assert_one_line_failure(&ran, "no password for alice");
    // The password from the environment.
    let ran = run_with_timeout(
        work.command(&[
            &format!("ftp://127.0.0.1:{}", server.port()),
            "--user",
            "alice",
            "-c",
            "pwd",
        ])
        .env("FERROFTP_PASSWORD", ALICE.1),
        CLIENT_TIMEOUT,
    )
    .ok("password from FERROFTP_PASSWORD");
    assert!(ran.stdout.contains("/alice"), "{}", ran.stdout);
}

/// Issue 14: scripts tell a failure to connect (2), to log in (3) and a failed command (1)
/// apart by the exit code; `get` of a missing file fails before any local file or progress.
#[test]
fn exit_codes_tell_connect_login_and_command_failures_apart() {
    let server = TestServer::start();
    let work = Work::new();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let down = closed.local_addr().unwrap().port();
    drop(closed);
    let ran = work.run(&[&format!("ftp://alice:x@127.0.0.1:{down}"), "-c", "ls"]);
    assert_one_line_failure(
        &ran,
        &format!("cannot connect to 127.0.0.1:{down}: connection refused"),
    );
    assert_eq!(ran.code(), Some(2), "{ran:?}");
    let ran = work.run(&[
        &format!("ftp://alice:wrong@127.0.0.1:{}", server.port()),
        "-c",
        "ls",
    ]);
    assert_one_line_failure(&ran, "530 ");
    assert_eq!(ran.code(), Some(3), "{ran:?}");
    let ran = work.run(&[&server.url(ALICE), "-c", "get missing.txt"]);
    assert_eq!(ran.code(), Some(1), "{ran:?}");
    assert_eq!(
        ran.stderr,
        "error: get missing.txt: 550 No such file or directory.\n"
    );
    assert!(
        !work.path("downloads").exists(),
        "nothing local for a missing file"
    );
    // A failing `open` inside a script is a connect failure too.
    let ran = work.run(&["-c", &format!("open ftp://127.0.0.1:{down}")]);
    assert_eq!(ran.code(), Some(2), "{ran:?}");
}

#[test]
fn bare_open_reconnects_and_local_commands_run_here() {
    let server = TestServer::start();
    let work = Work::new();
    work.write("local/a.txt", b"12345");
    std::fs::create_dir_all(work.path("local/sub")).unwrap();
    let ran = work
        .run(&[
            &server.url(ALICE),
            "-c",
            "close; open; pwd; lls local; !echo from-the-shell",
        ])
        .ok("close; open; pwd; lls; !");
    let lines: Vec<&str> = ran.stdout.lines().collect();
    assert!(
        lines.contains(&"/alice"),
        "reconnected and logged in again: {lines:?}"
    );
    assert!(lines.contains(&"           5  a.txt"), "{lines:?}");
    assert!(lines.contains(&"              sub/"), "{lines:?}");
    assert!(lines.contains(&"from-the-shell"), "{lines:?}");
    let ran = work.run(&["-c", "open"]);
    assert_one_line_failure(&ran, "no server to reconnect to (use open HOST)");
    let ran = work.run(&[&server.url(ALICE), "-c", "!exit 3"]);
    assert_one_line_failure(&ran, "the command exited with exit status: 3");
}

#[test]
fn admin_commands_and_signup() {
    let server = TestServer::start_with(|s| s.allow_signup = true);
    let work = Work::new();
    let admin = server.url(ADMIN);
    work.run(&[&admin, "-c", "adduser carol carol-pw-1; ban carol"])
        .ok("adduser, ban");
    let carol = server.shared.accounts.lookup("carol").expect("carol added");
    assert_eq!(carol.state.as_str(), "banned");
    let login_carol = format!("ftp://carol:carol-pw-1@127.0.0.1:{}", server.port());
    assert_one_line_failure(&work.run(&[&login_carol, "-c", "pwd"]), "530 ");
    work.run(&[&admin, "-c", "unban carol"]).ok("unban");
    work.run(&[&login_carol, "-c", "pwd"]).ok("carol logs in");
    work.run(&[&admin, "-c", "deluser carol"]).ok("deluser");
    assert!(server.shared.accounts.lookup("carol").is_none());

    // signup before login, then `login` (alias of user) on a fresh connection.
    let anon = format!("ftp://127.0.0.1:{}", server.port());
    let ran = work
        .run(&[
            &anon,
            "-c",
            "signup dave dave-pw-1; login dave dave-pw-1; pwd",
        ])
        .ok("signup");
    assert!(ran.stdout.contains("/dave"), "{}", ran.stdout);
    assert!(!ran.stdout.contains("dave-pw-1"), "password echoed");
}

/// SPEC "Access model": no secret in any log at any RUST_LOG level. suppaftp logs each
/// command it sends (PASS at trace, SITE and raw commands at debug); the client must not
/// let those through, for the login, SITE ADDUSER, adduser and signup.
#[test]
fn no_password_reaches_the_log_at_trace() {
    let server = TestServer::start_with(|s| s.allow_signup = true);
    let work = Work::new();
    let script = "site adduser bob2 Secr3tPw-site; adduser carol Secr3tPw-add; \
        put notes.txt; get notes.txt copy.txt; ls; close; \
        open ftp://127.0.0.1:PORT; signup dave Secr3tPw-signup; login dave Secr3tPw-signup; pwd"
        .replace("PORT", &server.port().to_string());
    let ran = run_with_timeout(
        work.command(&[&server.url(ADMIN), "-c", &script])
            .env("RUST_LOG", "trace"),
        CLIENT_TIMEOUT,
    )
    .ok("script at RUST_LOG=trace");
    assert!(
        ran.stderr.contains("DEBUG"),
        "the log is on: {}",
        ran.stderr
    );
    for secret in [ADMIN.1, "Secr3tPw"] {
        assert!(
            !ran.stderr.contains(secret) && !ran.stdout.contains(secret),
            "{secret} written out:\n{}",
            ran.stderr
        );
    }
}

mod ftps {
    use super::*;

    fn ftps_url(server: &TestServer) -> String {
        format!("ftps://alice:alice-pw@127.0.0.1:{}", server.port())
    }

    #[test]
    fn explicit_tls_round_trip_with_insecure() {
        let server = TestServer::start();
        let work = Work::new();
        let ran = work
            .run(&[
                &ftps_url(&server),
                "--insecure",
                "-c",
                "put big.bin; ls; get big.bin back.bin; put notes.txt; get notes.txt",
            ])
            .ok("ftps");
        assert!(ran.stdout.contains("(explicit TLS)"), "{}", ran.stdout);
        assert_eq!(work.sha("back.bin"), work.sha("big.bin"));
        assert_eq!(work.sha("downloads/notes.txt"), work.sha("notes.txt"));
    }

    #[test]
    fn pinned_certificate_is_accepted_and_data_connections_resume() {
        let server = TestServer::start();
        let work = Work::new();
        let key = format!("127.0.0.1:{}", server.port());
        work.pin(&key, &server.shared.identity.fingerprint());
        // Many protected data connections: each must resume the control session.
        let ran = work
            .run(&[
                &ftps_url(&server),
                "-c",
                "put big.bin; ls; get big.bin b1; get big.bin b2; ls; put a1.dat; \
                 get a1.dat a1.back; mput a*.dat; mget a*.dat",
            ])
            .ok("pinned ftps");
        assert_eq!(work.sha("b1"), work.sha("big.bin"));
        assert_eq!(work.sha("b2"), work.sha("big.bin"));
        assert_eq!(work.sha("a1.back"), work.sha("a1.dat"));
        assert_eq!(work.sha("downloads/a2.dat"), work.sha("a2.dat"));
        assert!(ran.stderr.is_empty(), "{}", ran.stderr);
    }

    #[test]
    fn unknown_certificate_is_refused_without_a_terminal() {
        let server = TestServer::start();
        let work = Work::new();
        let ran = work.run(&[&ftps_url(&server), "-c", "ls"]);
        assert_one_line_failure(&ran, &server.shared.identity.fingerprint());
        assert!(ran.stderr.contains("not trusted"), "{}", ran.stderr);
        assert!(!work.path("config/ferroftp/known_hosts").exists());
    }

    #[test]
    fn changed_certificate_is_refused_loudly() {
        let server = TestServer::start();
        let work = Work::new();
        let wrong = ["AB"; 32].join(":");
        work.pin(&format!("127.0.0.1:{}", server.port()), &wrong);
        let ran = work.run(&[&ftps_url(&server), "-c", "put big.bin"]);
        assert_one_line_failure(&ran, "CHANGED");
        assert!(ran.stderr.contains(&wrong), "{}", ran.stderr);
        assert!(
            ran.stderr.contains(&server.shared.identity.fingerprint()),
            "{}",
            ran.stderr
        );
        assert!(!server.storage("alice/big.bin").exists());
    }

    #[test]
    fn implicit_tls_round_trip() {
        let server = TestServer::start_with(|s| {
            s.implicit_tls_listen = vec!["127.0.0.1:0".parse().unwrap()];
        });
        let work = Work::new();
        let addr = server.implicit_addr.expect("implicit listener");
        work.pin(
            &format!("127.0.0.1:{}", addr.port()),
            &server.shared.identity.fingerprint(),
        );
        let url = format!("ftps://alice:alice-pw@{addr}");
        let ran = work
            .run(&[
                &url,
                "--implicit",
                "-c",
                "put big.bin; get big.bin back.bin",
            ])
            .ok("implicit ftps");
        assert!(ran.stdout.contains("(implicit TLS)"), "{}", ran.stdout);
        assert_eq!(work.sha("back.bin"), work.sha("big.bin"));
    }
}

mod pyftpdlib {
    use super::*;
    use crate::support::PyFtpd;

    #[test]
    fn scripted_session_against_pyftpdlib() {
        let root = tempfile::tempdir().unwrap();
        let work = Work::new();
        let server = PyFtpd::start(root.path(), work.dir.path());
        let url = format!("ftp://tester:tester-pw@127.0.0.1:{}", server.port);
        let ran = work
            .run(&[
                &url,
                "-c",
                "pwd; mkdir d; cd d; put big.bin; put notes.txt n.txt private; ls; \
                 rename n.txt m.txt; get big.bin; get m.txt; mode port; get big.bin act.bin; \
                 mode pasv; mput a*.dat; mget a*.dat; put -r tree; get -r tree; \
                 site HELP; quote NOOP; rm m.txt; cdup; show directory d",
            ])
            .ok("pyftpdlib session");
        let d = root.path().join("d");
        assert_eq!(sha256_file(&d.join("big.bin")), work.sha("big.bin"));
        assert_eq!(sha256_file(&d.join("a2.dat")), work.sha("a2.dat"));
        assert_eq!(
            sha256_file(&d.join("tree/sub/y.bin")),
            work.sha("tree/sub/y.bin")
        );
        assert_eq!(work.sha("downloads/big.bin"), work.sha("big.bin"));
        assert_eq!(work.sha("downloads/m.txt"), work.sha("notes.txt"));
        assert_eq!(work.sha("act.bin"), work.sha("big.bin"));
        assert_eq!(work.sha("downloads/a1.dat"), work.sha("a1.dat"));
        assert_eq!(
            work.sha("downloads/tree/sub/y.bin"),
            work.sha("tree/sub/y.bin")
        );
        assert!(!d.join("m.txt").exists() && !d.join("n.txt").exists());
        assert!(ls_line(&ran.stdout, "n.txt").starts_with('-'));
        // SITE VISIBILITY is ferroftp's: another server's refusal is only a warning.
        assert!(
            ran.stderr
                .contains("warning: the server did not set the visibility"),
            "{}",
            ran.stderr
        );
        // Errors from this server too: its reply line, non-zero exit.
        let ran = work.run(&[&url, "-c", "get nope.bin; pwd"]);
        assert_one_line_failure(&ran, "550 ");
    }
}

/// Against servers other than ferroftp: `ascii` is plain `TYPE A`, and a download the
/// server gives up on (426 while the data connection stays open) ends the command.
mod other_servers {
    use std::io::{BufRead, BufReader, Write};
    use std::net::{TcpListener, TcpStream};

    use super::*;
    use crate::support::PyFtpd;

    #[test]
    fn ascii_is_type_a_which_pyftpdlib_accepts() {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("t.txt"), b"one\r\ntwo\r\n").unwrap();
        let work = Work::new();
        let server = PyFtpd::start(root.path(), work.dir.path());
        let url = format!("ftp://tester:tester-pw@127.0.0.1:{}", server.port);
        work.run(&[&url, "-c", "ascii; get t.txt; put notes.txt up.txt"])
            .ok("ascii against pyftpdlib");
        assert_eq!(
            std::fs::read(work.path("downloads/t.txt")).unwrap(),
            b"one\ntwo\n"
        );
        // Sent as CRLF, stored by pyftpdlib in its local (LF) form.
        assert_eq!(
            std::fs::read(root.path().join("up.txt")).unwrap(),
            b"line one\nline two\n"
        );
    }

    /// A minimal FTP server whose RETR sends 1 MiB, then `426` on the control connection,
    /// and leaves the data connection open.
    fn cutting_server() -> (u16, std::thread::JoinHandle<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let handle = std::thread::spawn(move || {
            let (control, _) = listener.accept().unwrap();
            // Longer than the client may take: a client that hangs is killed and fails.
            control
                .set_read_timeout(Some(Duration::from_secs(300)))
                .unwrap();
            let mut out = control.try_clone().unwrap();
            let mut lines = BufReader::new(control);
            let passive = TcpListener::bind("127.0.0.1:0").unwrap();
            let data_port = passive.local_addr().unwrap().port();
            let mut kept: Vec<TcpStream> = Vec::new();
            out.write_all(b"220 cutter ready\r\n").unwrap();
            for _ in 0..64 {
                let mut line = String::new();
                if lines.read_line(&mut line).unwrap_or(0) == 0 {
                    return;
                }
                let verb = line
                    .split_whitespace()
                    .next()
                    .unwrap_or("")
                    .to_ascii_uppercase();
                let reply = match verb.as_str() {
                    "USER" => "331 password\r\n".to_owned(),
                    "PASS" => "230 in\r\n".to_owned(),
                    "PWD" => "257 \"/\"\r\n".to_owned(),
                    "SIZE" => "213 4194304\r\n".to_owned(),
                    "EPSV" => format!("229 Entering Extended Passive Mode (|||{data_port}|)\r\n"),
                    "RETR" => {
                        out.write_all(b"150 here it comes\r\n").unwrap();
                        let (mut data, _) = passive.accept().unwrap();
                        data.write_all(&vec![7u8; 1 << 20]).unwrap();
                        kept.push(data);
                        "426 Connection closed; transfer aborted.\r\n".to_owned()
                    }
                    "QUIT" => {
                        let _ = out.write_all(b"221 bye\r\n");
                        return;
                    }
                    _ => "200 ok\r\n".to_owned(),
                };
                if out.write_all(reply.as_bytes()).is_err() {
                    return;
                }
            }
        });
        (port, handle)
    }

    #[test]
    fn a_download_cut_with_426_fails_and_keeps_only_the_part_file() {
        let work = Work::new();
        let (port, _server) = cutting_server();
        let url = format!("ftp://u:p@127.0.0.1:{port}");
        let ran = work.run(&[&url, "-c", "get big.iso; pwd"]);
        assert_one_line_failure(&ran, "426 Connection closed; transfer aborted.");
        assert!(!work.path("downloads/big.iso").exists());
        assert_eq!(
            std::fs::metadata(work.path("downloads/big.iso.part"))
                .unwrap()
                .len(),
            1 << 20
        );
    }
}

mod interactive {
    use super::*;

    /// A tmux server on its own socket; killed on drop.
    struct Tmux {
        socket: String,
    }

    impl Tmux {
        fn cmd(&self, args: &[&str]) -> std::process::Output {
            Command::new("tmux")
                .arg("-L")
                .arg(&self.socket)
                .args(args)
                .env_remove("TMUX")
                .stdin(Stdio::null())
                .output()
                .expect("tmux (the README test command installs it)")
        }

        fn screen(&self) -> String {
            String::from_utf8_lossy(&self.cmd(&["capture-pane", "-p", "-t", "client"]).stdout)
                .into_owned()
        }

        fn wait_for(&self, what: &str, secs: u64) -> String {
            let mut screen = String::new();
            let found = wait_until(Duration::from_secs(secs), || {
                screen = self.screen();
                screen.contains(what)
            });
            assert!(found, "{what:?} not on screen within {secs} s:\n{screen}");
            screen
        }
    }

    impl Tmux {
        /// `ferroftp client ARGS` in a 160x40 tmux window, in `work`, with `FERROFTP_PASSWORD`.
        fn start(work: &Work, tag: &str, args: &str) -> Tmux {
            let tmux = Tmux {
                socket: format!("ferroftp-test-{}-{tag}", std::process::id()),
            };
            let command = format!(
                "env FERROFTP_PASSWORD={} XDG_CONFIG_HOME={} {} client {args}",
                ALICE.1,
                work.config_dir().display(),
                env!("CARGO_BIN_EXE_ferroftp"),
            );
            let started = tmux.cmd(&[
                "new-session",
                "-d",
                "-s",
                "client",
                "-x",
                "160",
                "-y",
                "40",
                "-c",
                work.dir.path().to_str().unwrap(),
                &command,
            ]);
            assert!(started.status.success(), "tmux: {started:?}");
            tmux
        }
    }

    impl Drop for Tmux {
        fn drop(&mut self) {
            let _ = self.cmd(&["kill-server"]);
        }
    }

    /// Tab asks the server for the directory being completed (no `ls` first), puts a `/`
    /// after directories, and a second Tab lists every candidate.
    #[test]
    fn tab_completes_remote_names_from_the_server() {
        let server = TestServer::start();
        let work = Work::new();
        crate::support::place_dir(&server, "alice/sub", "alice", false);
        crate::support::place(&server, "alice/sub/report.txt", b"r", "alice", false);
        crate::support::place(&server, "alice/sub/readme.md", b"m", "alice", false);
        crate::support::place_dir(&server, "alice/sub/data", "alice", false);
        let tmux = Tmux::start(
            &work,
            "complete",
            &format!("ftp://alice@127.0.0.1:{}", server.port()),
        );
        tmux.wait_for("alice@127.0.0.1:/alice>", 20);
        tmux.cmd(&["send-keys", "-t", "client", "get sub/rep", "Tab"]);
        tmux.wait_for("> get sub/report.txt", 10);
        tmux.cmd(&["send-keys", "-t", "client", "C-u", "cd s", "Tab"]);
        tmux.wait_for("> cd sub/", 10);
        tmux.cmd(&["send-keys", "-t", "client", "d", "Tab"]);
        tmux.wait_for("> cd sub/data/", 10);
        tmux.cmd(&[
            "send-keys",
            "-t",
            "client",
            "C-u",
            "get sub/re",
            "Tab",
            "Tab",
        ]);
        let screen = tmux.wait_for("report.txt", 10);
        assert!(
            screen.contains("readme.md"),
            "both candidates listed:\n{screen}"
        );
        tmux.cmd(&["send-keys", "-t", "client", "C-u", "quit", "Enter"]);
    }

    #[test]
    fn prompt_and_progress_bar_in_a_terminal() {
        let server = TestServer::start();
        let work = Work::new();
        work.write("bigfile", &pseudo_random(8 * 1024 * 1024, 9));
        let tmux = Tmux::start(
            &work,
            "repl",
            &format!("ftp://alice@127.0.0.1:{}", server.port()),
        );
        tmux.wait_for("alice@127.0.0.1:/alice>", 20);
        tmux.cmd(&["send-keys", "-t", "client", "put bigfile", "Enter"]);
        let screen = tmux.wait_for("100%", 30);
        assert!(screen.contains("MiB/s"), "rate on screen:\n{screen}");
        assert!(screen.contains("ETA"), "ETA on screen:\n{screen}");
        assert_eq!(
            sha256_file(&server.storage("alice/bigfile")),
            work.sha("bigfile")
        );
        // Tab completion of a command name.
        tmux.cmd(&["send-keys", "-t", "client", "pw", "Tab"]);
        tmux.wait_for("> pwd", 10);
        tmux.cmd(&["send-keys", "-t", "client", "Enter"]);
        // Keys typed before the next prompt may be dropped when line editing restarts.
        tmux.wait_for("> pwd\n/alice\nalice@127.0.0.1:/alice>", 10);
        tmux.cmd(&["send-keys", "-t", "client", "quit", "Enter"]);
        let mut screen = String::new();
        let ended = wait_until(Duration::from_secs(10), || {
            screen = tmux.screen();
            !tmux.cmd(&["has-session", "-t", "client"]).status.success()
        });
        assert!(ended, "client still running after quit:\n{screen}");
        // History is kept in the config dir.
        let history = std::fs::read_to_string(work.path("config/ferroftp/history")).unwrap();
        assert!(history.contains("put bigfile"), "{history}");
    }

    #[test]
    fn unknown_certificate_is_asked_once_then_pinned_and_a_change_refused() {
        let server = TestServer::start();
        let work = Work::new();
        let url = format!("ftps://alice@127.0.0.1:{}", server.port());
        let fingerprint = &server.shared.identity.fingerprint();
        let tmux = Tmux::start(&work, "tofu", &url);
        let screen = tmux.wait_for("[y/N]", 20);
        assert!(screen.contains(fingerprint), "fingerprint shown:\n{screen}");
        tmux.cmd(&["send-keys", "-t", "client", "y", "Enter"]);
        tmux.wait_for("alice@127.0.0.1:/alice>", 20);
        let pins = std::fs::read_to_string(work.path("config/ferroftp/known_hosts")).unwrap();
        assert_eq!(pins, format!("127.0.0.1:{} {fingerprint}\n", server.port()));
        tmux.cmd(&["send-keys", "-t", "client", "quit", "Enter"]);
        drop(tmux);

        // Pinned now: a script connects without asking.
        run_with_timeout(
            work.command(&[&url, "-c", "pwd"])
                .env("FERROFTP_PASSWORD", ALICE.1),
            CLIENT_TIMEOUT,
        )
        .ok("pinned");
        // A changed certificate is refused even with someone to ask.
        let wrong = ["CD"; 32].join(":");
        work.pin(&format!("127.0.0.1:{}", server.port()), &wrong);
        let tmux = Tmux::start(&work, "changed", &url);
        let screen = tmux.wait_for("CHANGED", 20);
        assert!(screen.contains(&wrong) || screen.replace('\n', "").contains(&wrong));
        assert!(
            !screen.contains("[y/N]"),
            "no question on a change:\n{screen}"
        );
    }
}

/// SECURITY (review): a PASV reply naming another address must not send the data connection
/// there (for the web client this would be an SSRF around web_allowed_servers). A fake server
/// refuses EPSV and answers PASV with 127.0.0.2; the listing must arrive from 127.0.0.1.
#[test]
fn pasv_address_of_another_host_is_ignored() {
    use std::io::{BufRead, BufReader, Write};
    let control = TcpListener::bind("127.0.0.1:0").unwrap();
    let honest = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = honest.local_addr().unwrap().port();
    // The address the reply names; nothing must ever connect to it.
    let decoy = TcpListener::bind(("127.0.0.2", port)).ok();
    let ctl_port = control.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (s, _) = control.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut w = s.try_clone().unwrap();
        let mut r = BufReader::new(s);
        w.write_all(b"220 fake\r\n").unwrap();
        let mut line = String::new();
        while r.read_line(&mut line).unwrap_or(0) > 0 {
            let verb = line
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_ascii_uppercase();
            let reply = match verb.as_str() {
                "USER" => "331 pw\r\n".to_owned(),
                "PASS" => "230 ok\r\n".to_owned(),
                "PWD" => "257 \"/\"\r\n".to_owned(),
                "TYPE" => "200 ok\r\n".to_owned(),
                "EPSV" => "502 no\r\n".to_owned(),
                "PASV" => format!(
                    "227 Entering Passive Mode (127,0,0,2,{},{})\r\n",
                    port >> 8,
                    port & 255
                ),
                "LIST" => {
                    w.write_all(b"150 here\r\n").unwrap();
                    let (mut d, _) =
                        crate::support::accept_within(&honest, Duration::from_secs(10));
                    d.write_all(b"-rw-r--r--   1 x x 5 Jan  1  2020 honest.txt\r\n")
                        .unwrap();
                    drop(d);
                    "226 done\r\n".to_owned()
                }
                "QUIT" => {
                    w.write_all(b"221 bye\r\n").unwrap();
                    break;
                }
                _ => "200 ok\r\n".to_owned(),
            };
            w.write_all(reply.as_bytes()).unwrap();
            line.clear();
        }
    });
    let work = Work::new();
    let url = format!("ftp://alice@127.0.0.1:{ctl_port}");
    let mut cmd = work.command(&[url.as_str(), "-c", "ls"]);
    cmd.env("FERROFTP_PASSWORD", "x");
    let ran = run_with_timeout(&mut cmd, CLIENT_TIMEOUT).ok("ls against the fake server");
    assert!(ran.stdout.contains("honest.txt"), "{}", ran.stdout);
    if let Some(decoy) = decoy {
        decoy.set_nonblocking(true).unwrap();
        assert!(
            decoy.accept().is_err(),
            "the data connection went to the PASV address"
        );
    }
    server.join().unwrap();
}

/// A full local disk (here the file-size limit `ulimit -f`, which fails writes with EFBIG as a
/// full disk fails them with ENOSPC): one clear line, non-zero exit, no file left under the
/// final name and no `.part` left behind.
#[test]
fn full_local_disk_is_one_line_and_leaves_nothing() {
    let server = TestServer::start();
    crate::support::place(
        &server,
        "alice/big.bin",
        &pseudo_random(1024 * 1024, 77),
        "alice",
        false,
    );
    let work = Work::new();
    let url = server.url(ALICE);
    let bin = env!("CARGO_BIN_EXE_ferroftp");
    // 256 KiB limit; SIGXFSZ ignored so the write fails instead of killing the client.
    let script = format!("trap '' XFSZ; ulimit -f 256; exec {bin} client {url} -c 'get big.bin'");
    let mut cmd = Command::new("bash");
    cmd.args(["-c", &script])
        .current_dir(work.dir.path())
        .env("XDG_CONFIG_HOME", work.config_dir())
        .env("HOME", work.dir.path())
        .env_remove("RUST_LOG");
    let ran = run_with_timeout(&mut cmd, CLIENT_TIMEOUT);
    assert_one_line_failure(&ran, "big.bin");
    assert!(!work.path("downloads/big.bin").exists());
    assert!(work.part_files().is_empty(), "{:?}", work.part_files());
}
