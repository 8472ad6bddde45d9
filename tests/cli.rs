//! The `ferroftp` binary itself: `--help`, one-line errors and exit codes, `user …` editing
//! `data/credentials.txt`, and `serve` as a real process (its stdout contract, first-start
//! admin, live pick-up of `user add`, several listeners, IPv6, SIGTERM → 421 and exit 0).

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::{
    Ran, Served, listening, pseudo_random, run_with_input, run_with_timeout, sha256, wait_until,
};

/// Seconds any one short-lived `ferroftp` invocation may take.
const CMD_TIMEOUT: u64 = 30;

fn ferroftp() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ferroftp"))
}

fn run(args: &[&str]) -> Ran {
    run_with_timeout(ferroftp().args(args), CMD_TIMEOUT)
}

fn run_stdin(args: &[&str], input: &str) -> Ran {
    run_with_input(ferroftp().args(args), Some(input.as_bytes()), CMD_TIMEOUT)
}

/// Asserts the SPEC's error contract: non-zero exit, exactly one line on stderr, no panic.
fn assert_one_line_error(ran: &Ran, what: &str) -> String {
    assert!(!ran.success(), "{what} should fail: {ran:?}");
    let lines: Vec<&str> = ran.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{what}: one line on stderr, got {ran:?}");
    assert!(
        !ran.stderr.contains("panicked") && !ran.stderr.contains("RUST_BACKTRACE"),
        "{what}: no panic: {ran:?}"
    );
    lines[0].to_owned()
}

/// A fresh instance directory whose config makes bcrypt cheap (test speed) and tolerates the
/// failed logins of the retry loops below.
fn instance() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("ferroftp.toml"),
        "bcrypt_cost = 4\nmax_login_failures = 100\n",
    )
    .unwrap();
    dir
}

fn dir_str(dir: &tempfile::TempDir) -> &str {
    dir.path().to_str().unwrap()
}

fn add_user(dir: &tempfile::TempDir, name: &str, password: &str, admin: bool) {
    let mut args = vec![
        "user",
        "add",
        name,
        "--password-stdin",
        "--dir",
        dir_str(dir),
    ];
    if admin {
        args.push("--admin");
    }
    run_stdin(&args, &format!("{password}\n")).ok("user add");
}

fn user_list(dir: &tempfile::TempDir) -> String {
    run(&["user", "list", "--dir", dir_str(dir)])
        .ok("user list")
        .stdout
}

mod arguments {
    use super::*;

    #[test]
    fn help_on_every_subcommand_exits_zero() {
        for args in [
            vec!["--help"],
            vec!["serve", "--help"],
            vec!["user", "--help"],
            vec!["user", "add", "--help"],
            vec!["user", "del", "--help"],
            vec!["user", "ban", "--help"],
            vec!["user", "unban", "--help"],
            vec!["user", "passwd", "--help"],
            vec!["user", "list", "--help"],
        ] {
            let ran = run(&args);
            assert!(ran.success(), "{args:?}: {ran:?}");
            assert!(ran.stdout.contains("Usage"), "{args:?}: {ran:?}");
        }
        let ran = run(&["serve", "--help"]);
        for flag in [
            "--dir",
            "--listen",
            "--pasv-ports",
            "--pasv-address",
            "--max-sessions",
            "--config",
        ] {
            assert!(ran.stdout.contains(flag), "serve --help names {flag}");
        }
    }

    #[test]
    fn bad_arguments_are_one_line_and_non_zero() {
        for args in [
            vec!["serve", "--bogus"],
            vec!["serve", "--max-sessions", "lots"],
            vec!["user", "add"],
            vec!["user", "frobnicate", "alice"],
            vec!["nonsense"],
        ] {
            let line = assert_one_line_error(&run(&args), &format!("{args:?}"));
            assert!(line.starts_with("error: "), "{args:?}: {line}");
        }
    }

    #[test]
    fn missing_subcommand_says_what_is_missing() {
        // Not the first line of the help text: an error that says a subcommand is needed.
        for args in [vec![], vec!["user"]] {
            let line = assert_one_line_error(&run(&args), &format!("{args:?}"));
            assert!(line.starts_with("error: "), "{args:?}: {line}");
        }
    }

    #[test]
    fn bad_values_are_one_line_and_non_zero() {
        let dir = instance();
        for args in [
            vec![
                "serve",
                "--dir",
                dir_str(&dir),
                "--listen",
                "not-an-address",
            ],
            vec![
                "serve",
                "--dir",
                dir_str(&dir),
                "--listen",
                "127.0.0.1:0",
                "--pasv-ports",
                "9-3",
            ],
            vec![
                "serve",
                "--dir",
                dir_str(&dir),
                "--listen",
                "127.0.0.1:0",
                "--max-sessions",
                "0",
            ],
        ] {
            let line = assert_one_line_error(&run(&args), &format!("{args:?}"));
            assert!(line.starts_with("error: "), "{args:?}: {line}");
        }
    }
}

mod users {
    use super::*;

    #[test]
    fn add_then_list() {
        let dir = instance();
        let ran = run_stdin(
            &[
                "user",
                "add",
                "alice",
                "--password-stdin",
                "--dir",
                dir_str(&dir),
            ],
            "alice-pw\n",
        )
        .ok("user add alice");
        assert!(ran.stderr.is_empty(), "{ran:?}");
        assert_eq!(user_list(&dir), "alice user active\n");
        assert!(dir.path().join("server_storage/alice").is_dir(), "home");

        add_user(&dir, "boss", "boss-pw", true);
        assert_eq!(user_list(&dir), "alice user active\nboss admin active\n");

        let creds = std::fs::read_to_string(dir.path().join("data/credentials.txt")).unwrap();
        let alice = creds
            .lines()
            .find(|l| l.starts_with("alice:"))
            .expect("alice's line");
        let fields: Vec<&str> = alice.split(':').collect();
        assert_eq!(fields.len(), 4, "{alice}");
        assert_eq!((fields[2], fields[3]), ("user", "active"));
        assert!(bcrypt::verify("alice-pw", fields[1]).unwrap(), "{alice}");
    }

    /// A typo in `--dir` must not create an instance somewhere else (issue 14, SPEC "Command
    /// line"): every command but `serve` refuses it in one line naming it.
    #[test]
    fn a_dir_that_does_not_exist_is_refused_and_not_created() {
        let parent = tempfile::tempdir().unwrap();
        let missing = parent.path().join("nonexistent");
        let m = missing.to_str().unwrap();
        for args in [
            vec!["user", "add", "erin", "--password-stdin", "--dir", m],
            vec!["user", "del", "erin", "--dir", m],
            vec!["user", "ban", "erin", "--dir", m],
            vec!["user", "unban", "erin", "--dir", m],
            vec!["user", "passwd", "erin", "--password-stdin", "--dir", m],
            vec!["user", "list", "--dir", m],
            vec!["web", "--listen", "127.0.0.1:0", "--dir", m],
        ] {
            let ran = run_stdin(&args, "erin-password\n");
            let line = assert_one_line_error(&ran, &format!("{args:?}"));
            assert_eq!(
                line,
                format!(
                    "error: --dir {m} does not exist (create it first if it is meant to be a new instance)"
                ),
                "{args:?}"
            );
            assert!(!missing.exists(), "{args:?} created {m}");
        }
        let file = parent.path().join("a-file");
        std::fs::write(&file, "").unwrap();
        let f = file.to_str().unwrap();
        let line = assert_one_line_error(&run(&["user", "list", "--dir", f]), "a file as --dir");
        assert_eq!(line, format!("error: --dir {f} is not a directory"));
    }

    /// Scripts do `mkdir DIR && ferroftp user add … --dir DIR`: an empty directory becomes an
    /// instance.
    #[test]
    fn an_empty_existing_dir_becomes_an_instance() {
        let dir = tempfile::tempdir().unwrap();
        add_user(&dir, "erin", "erin-password", false);
        assert_eq!(user_list(&dir), "erin user active\n");
        assert!(dir.path().join("data/credentials.txt").is_file());
        assert!(dir.path().join("server_storage/erin").is_dir());
    }

    #[test]
    fn a_short_password_is_set_with_a_one_line_warning() {
        let dir = instance();
        let d = dir_str(&dir);
        const WARNING: &str = "warning: the password of erin is shorter than 8 characters\n";
        let with_password = |verb: &str, password: &str| {
            let args = ["user", verb, "erin", "--password-stdin", "--dir", d];
            run_stdin(&args, &format!("{password}\n")).ok(&format!("{verb} {password}"))
        };
        let ran = with_password("add", "short");
        assert_eq!(
            (ran.stdout.as_str(), ran.stderr.as_str()),
            ("added erin (user)\n", WARNING)
        );
        assert_eq!(with_password("passwd", "1234567").stderr, WARNING);
        assert_eq!(
            with_password("passwd", "12345678").stderr,
            "",
            "8 are enough"
        );
        let creds = std::fs::read_to_string(dir.path().join("data/credentials.txt")).unwrap();
        let hash = creds.lines().find_map(|l| l.strip_prefix("erin:")).unwrap();
        assert!(bcrypt::verify("12345678", hash.split(':').next().unwrap()).unwrap());
    }

    #[test]
    fn duplicate_and_invalid_names_fail_with_one_line() {
        let dir = instance();
        add_user(&dir, "alice", "pw1", false);
        let ran = run_stdin(
            &[
                "user",
                "add",
                "alice",
                "--password-stdin",
                "--dir",
                dir_str(&dir),
            ],
            "pw2\n",
        );
        let line = assert_one_line_error(&ran, "duplicate add");
        assert!(line.contains("alice"), "{line}");
        for bad in ["Public", ".hidden", "has space", "x/y", &"n".repeat(33)] {
            let ran = run_stdin(
                &[
                    "user",
                    "add",
                    bad,
                    "--password-stdin",
                    "--dir",
                    dir_str(&dir),
                ],
                "pw\n",
            );
            assert_one_line_error(&ran, &format!("user add {bad:?}"));
        }
        let ran = run_stdin(
            &[
                "user",
                "add",
                "carol",
                "--password-stdin",
                "--dir",
                dir_str(&dir),
            ],
            "\n",
        );
        assert_one_line_error(&ran, "empty password");
        assert_eq!(user_list(&dir), "alice user active\n");
    }

    #[test]
    fn ban_unban_passwd_del() {
        let dir = instance();
        add_user(&dir, "alice", "old-pw", false);
        add_user(&dir, "bob", "bob-pw", false);
        let d = dir_str(&dir);

        run(&["user", "ban", "alice", "--dir", d]).ok("ban");
        assert_eq!(user_list(&dir), "alice user banned\nbob user active\n");
        run(&["user", "unban", "alice", "--dir", d]).ok("unban");
        assert_eq!(user_list(&dir), "alice user active\nbob user active\n");

        run_stdin(
            &["user", "passwd", "alice", "--password-stdin", "--dir", d],
            "new-pw\n",
        )
        .ok("passwd");
        let creds = std::fs::read_to_string(dir.path().join("data/credentials.txt")).unwrap();
        let hash = creds
            .lines()
            .find_map(|l| l.strip_prefix("alice:"))
            .and_then(|rest| rest.split(':').next())
            .expect("alice's hash")
            .to_owned();
        assert!(bcrypt::verify("new-pw", &hash).unwrap());
        assert!(!bcrypt::verify("old-pw", &hash).unwrap());

        run(&["user", "del", "alice", "--dir", d]).ok("del");
        assert_eq!(user_list(&dir), "bob user active\n");

        for args in [
            vec!["user", "del", "alice", "--dir", d],
            vec!["user", "ban", "nobody", "--dir", d],
            vec!["user", "unban", "nobody", "--dir", d],
        ] {
            let line = assert_one_line_error(&run(&args), &format!("{args:?}"));
            assert!(line.contains(args[2]), "names the user: {line}");
        }
        let ran = run_stdin(
            &["user", "passwd", "nobody", "--password-stdin", "--dir", d],
            "pw\n",
        );
        assert_one_line_error(&ran, "passwd of an unknown user");
    }

    #[test]
    fn without_password_stdin_and_no_terminal_is_an_error() {
        let dir = instance();
        let ran = run(&["user", "add", "alice", "--dir", dir_str(&dir)]);
        assert_one_line_error(&ran, "user add without a terminal");
        assert_eq!(user_list(&dir), "");
    }
}

/// A control connection with a read timeout; returns (reader, writer) after the 220.
fn connect(addr: SocketAddr) -> (BufReader<TcpStream>, TcpStream) {
    let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let greeting = read_reply(&mut reader);
    assert!(greeting.starts_with("220"), "greeting: {greeting:?}");
    (reader, stream)
}

/// One reply's last line (multi-line replies skipped to their end).
fn read_reply(reader: &mut BufReader<TcpStream>) -> String {
    let mut line = String::new();
    reader.read_line(&mut line).expect("read reply");
    if line.len() >= 4 && line.as_bytes()[3] == b'-' {
        let end = format!("{} ", &line[..3]);
        loop {
            let mut next = String::new();
            if reader.read_line(&mut next).expect("read reply") == 0 || next.starts_with(&end) {
                return next;
            }
        }
    }
    line
}

fn command(reader: &mut BufReader<TcpStream>, writer: &mut TcpStream, line: &str) -> String {
    writer.write_all(format!("{line}\r\n").as_bytes()).unwrap();
    read_reply(reader)
}

/// Logs in over a raw connection; returns the PASS reply and the connection.
fn raw_login(
    addr: SocketAddr,
    user: &str,
    password: &str,
) -> (String, BufReader<TcpStream>, TcpStream) {
    let (mut r, mut w) = connect(addr);
    let reply = command(&mut r, &mut w, &format!("USER {user}"));
    assert!(reply.starts_with("331"), "USER: {reply:?}");
    let reply = command(&mut r, &mut w, &format!("PASS {password}"));
    (reply, r, w)
}

/// Retries a login for up to `secs` (the server reloads credentials within 2 s).
fn login_within(addr: SocketAddr, user: &str, password: &str, secs: u64) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let (reply, _, _) = raw_login(addr, user, password);
        if reply.starts_with("230") {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

mod serve {
    use super::*;

    #[test]
    fn malformed_credentials_stop_the_start_with_the_line_number() {
        let dir = instance();
        std::fs::create_dir_all(dir.path().join("data")).unwrap();
        std::fs::write(
            dir.path().join("data/credentials.txt"),
            "# name:bcrypt-hash:role:state\n\nthis line is not an account\n",
        )
        .unwrap();
        let ran = run(&["serve", "--dir", dir_str(&dir), "--listen", "127.0.0.1:0"]);
        assert!(!ran.success(), "{ran:?}");
        assert!(
            ran.stderr.contains("credentials.txt:3: "),
            "names the file and line 3: {ran:?}"
        );
        assert!(!ran.stderr.contains("panicked"), "{ran:?}");
        assert!(!ran.stdout.contains("listening on"), "{ran:?}");
    }

    #[test]
    fn unknown_config_key_is_an_error_naming_it() {
        let dir = instance();
        std::fs::write(
            dir.path().join("ferroftp.toml"),
            "max_sessions = 4\nmax_sesions = 5\n",
        )
        .unwrap();
        let ran = run(&["serve", "--dir", dir_str(&dir), "--listen", "127.0.0.1:0"]);
        let line = assert_one_line_error(&ran, "unknown config key");
        assert!(line.contains("max_sesions"), "{line}");
        assert!(!ran.stdout.contains("listening on"), "{ran:?}");

        // An explicit --config that does not exist is an error too.
        let ran = run(&[
            "serve",
            "--dir",
            dir_str(&dir),
            "--listen",
            "127.0.0.1:0",
            "--config",
            "/nonexistent/ferroftp.toml",
        ]);
        assert_one_line_error(&ran, "missing --config file");
    }

    /// Issue 14: every config error names the file, the line, the key and what is expected,
    /// in one line, in words; durations also take units.
    #[test]
    fn config_errors_name_file_line_key_and_what_is_expected() {
        let dir = instance();
        let toml = dir.path().join("ferroftp.toml");
        let path = toml.display().to_string();
        for (body, expected) in [
            (
                "bcrypt_cost = 4\npasv_ports = 50000-50100\n",
                format!(
                    "error: {path}:2: pasv_ports: 50000-50100 is not a TOML value; text goes in quotes: pasv_ports = \"50000-50100\""
                ),
            ),
            (
                "bcrypt_cost = 4\n\nidle_timeout = \"5 minutes\"\n",
                format!(
                    "error: {path}:3: idle_timeout: expected a whole number of seconds or a duration such as \"90s\", \"5m\", \"2h\", found string \"5 minutes\""
                ),
            ),
            (
                "max_per_ip = 0\n",
                format!("error: {path}:1: max_per_ip: must be at least 1"),
            ),
        ] {
            std::fs::write(&toml, body).unwrap();
            let ran = run(&["serve", "--dir", dir_str(&dir), "--listen", "127.0.0.1:0"]);
            assert_eq!(assert_one_line_error(&ran, body), expected);
        }
        // A bad flag is the flag's error, even when the file sets the same key well.
        std::fs::write(&toml, "max_sessions = 8\n").unwrap();
        let ran = run(&["serve", "--dir", dir_str(&dir), "--max-sessions", "0"]);
        assert_eq!(
            assert_one_line_error(&ran, "--max-sessions 0"),
            "error: max_sessions: must be between 1 and 65536"
        );
        // Durations with units start the server.
        std::fs::write(
            &toml,
            "bcrypt_cost = 4\nidle_timeout = \"5m\"\nlogin_block = \"2h\"\n",
        )
        .unwrap();
        let mut served = Served::start(dir.path(), &["--listen", "127.0.0.1:0"]);
        assert!(served.line().starts_with("listening on "));
        served.lines_until("created account admin");
        served.sigterm();
        assert_eq!(served.wait_exit(12).code(), Some(0));
    }

    /// On a terminal the first start shows the admin password once and writes no file
    /// (`script` gives the server a pseudo-terminal as its stdout).
    #[test]
    fn first_start_on_a_terminal_prints_the_admin_password_once() {
        let dir = instance();
        let command = format!(
            "{} serve --dir {} --listen 127.0.0.1:0",
            env!("CARGO_BIN_EXE_ferroftp"),
            dir_str(&dir)
        );
        let mut child = Command::new("script")
            .args(["-q", "-e", "-c", &command, "/dev/null"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("script(1) from util-linux");
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut seen = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(CMD_TIMEOUT);
        while Instant::now() < deadline {
            let mut line = String::new();
            if out.read_line(&mut line).unwrap_or(0) == 0 {
                break;
            }
            let line = line.trim_end().to_owned();
            let done = line.starts_with("created account admin");
            seen.push(line);
            if done {
                break;
            }
        }
        let _ = Command::new("pkill")
            .args(["-TERM", "-f", &format!("serve --dir {}", dir_str(&dir))])
            .status();
        let _ = child.wait();
        let last = seen.last().cloned().unwrap_or_default();
        let password = last
            .strip_prefix("created account admin with password ")
            .and_then(|s| s.strip_suffix(" (shown only this once)"))
            .unwrap_or_else(|| panic!("{seen:?}"));
        assert!(password.len() >= 8, "{password:?}");
        assert!(!dir.path().join("data/admin-password").exists());
    }

    #[test]
    fn first_start_admin_live_user_add_and_sigterm() {
        let dir = instance();
        let mut served = Served::start(dir.path(), &["--listen", "127.0.0.1:0"]);
        let first = served.line();
        let addr = listening(&first);
        assert_eq!(addr.ip().to_string(), "127.0.0.1");
        // Stdout is a pipe here, as under systemd: the password goes to a 0600 file, not
        // to the journal.
        let rest = served.lines_until("created account admin");
        let root = std::fs::canonicalize(dir.path()).unwrap();
        assert!(
            rest.contains(&format!("instance directory {}", root.display())),
            "{rest:?}"
        );
        let file = root.join("data/admin-password");
        assert_eq!(
            rest.last().unwrap(),
            &format!(
                "created account admin; its password is in {}",
                file.display()
            )
        );
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&file).unwrap().permissions(),
        );
        assert_eq!(mode & 0o777, 0o600, "admin-password is private");
        let password = std::fs::read_to_string(&file)
            .unwrap()
            .strip_suffix('\n')
            .unwrap()
            .to_owned();
        assert!(password.len() >= 8, "a real password: {password:?}");
        assert!(
            !rest.iter().any(|l| l.contains(&password)),
            "the password is not printed: {rest:?}"
        );
        assert_eq!(user_list(&dir), "admin admin active\n");

        // suppaftp logs in with the printed password and round-trips a file.
        let mut ftp = suppaftp::FtpStream::connect(addr).expect("connect");
        ftp.login("admin", &password).expect("admin login");
        ftp.transfer_type(suppaftp::types::FileType::Binary)
            .unwrap();
        let body = pseudo_random(10_000, 9);
        ftp.put_file("hello.bin", &mut &body[..]).expect("STOR");
        let back = ftp.retr_as_buffer("hello.bin").expect("RETR").into_inner();
        assert_eq!(sha256(&back), sha256(&body));
        ftp.quit().unwrap();

        // `user add` while the server runs is picked up (SPEC: within 2 s).
        let (reply, _, _) = raw_login(addr, "carol", "carol-pw");
        assert!(reply.starts_with("530"), "carol unknown yet: {reply:?}");
        add_user(&dir, "carol", "carol-pw", false);
        assert!(
            login_within(addr, "carol", "carol-pw", 3),
            "carol logs in within 3 s of user add; stderr:\n{}",
            served.stderr()
        );

        // An idle logged-in session gets 421 on SIGTERM, and the process exits 0.
        let (reply, mut idle, _w) = raw_login(addr, "carol", "carol-pw");
        assert!(reply.starts_with("230"), "{reply:?}");
        served.sigterm();
        let mut line = String::new();
        idle.read_line(&mut line).expect("reply on shutdown");
        assert!(
            line.starts_with("421 "),
            "idle session on SIGTERM: {line:?}"
        );
        let status = served.wait_exit(12);
        assert_eq!(status.code(), Some(0), "stderr:\n{}", served.stderr());
    }

    /// Waits up to `secs` for the server to close an idle session; returns what it sent.
    fn closed_within(reader: &mut BufReader<TcpStream>, secs: u64) -> String {
        reader
            .get_ref()
            .set_read_timeout(Some(Duration::from_secs(secs)))
            .unwrap();
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(_) => line,
            Err(e) => panic!("session still open after {secs} s ({e}); got {line:?}"),
        }
    }

    #[test]
    fn live_ban_passwd_del_and_a_bad_hand_edit() {
        let dir = instance();
        add_user(&dir, "alice", "alice-pw", false);
        add_user(&dir, "bob", "bob-pw", false);
        let d = dir_str(&dir).to_owned();
        let mut served = Served::start(dir.path(), &["--listen", "127.0.0.1:0"]);
        let addr = listening(&served.line());

        // ban: alice's open session ends with 421 (SPEC: within 2 s), new logins get 530.
        let (reply, mut session, _w) = raw_login(addr, "alice", "alice-pw");
        assert!(reply.starts_with("230"), "{reply:?}");
        run(&["user", "ban", "alice", "--dir", &d]).ok("ban");
        let line = closed_within(&mut session, 4);
        assert!(line.starts_with("421 "), "banned session: {line:?}");
        let (reply, _, _) = raw_login(addr, "alice", "alice-pw");
        assert_eq!(reply, "530 Login incorrect.\r\n");
        run(&["user", "unban", "alice", "--dir", &d]).ok("unban");
        assert!(login_within(addr, "alice", "alice-pw", 3), "unbanned");

        // passwd: the new password works, the old one no longer does.
        run_stdin(
            &["user", "passwd", "alice", "--password-stdin", "--dir", &d],
            "fresh-pw\n",
        )
        .ok("passwd");
        assert!(login_within(addr, "alice", "fresh-pw", 3), "new password");
        let (reply, _, _) = raw_login(addr, "alice", "alice-pw");
        assert_eq!(reply, "530 Login incorrect.\r\n", "old password");

        // del: bob's open session ends with 421, and bob can no longer log in.
        let (reply, mut session, _w) = raw_login(addr, "bob", "bob-pw");
        assert!(reply.starts_with("230"), "{reply:?}");
        run(&["user", "del", "bob", "--dir", &d]).ok("del");
        let line = closed_within(&mut session, 4);
        assert!(line.starts_with("421 "), "deleted user's session: {line:?}");
        let (reply, _, _) = raw_login(addr, "bob", "bob-pw");
        assert_eq!(reply, "530 Login incorrect.\r\n");

        // A malformed hand edit is refused; the last good copy stays in use.
        let creds = dir.path().join("data/credentials.txt");
        let good = std::fs::read_to_string(&creds).unwrap();
        std::fs::write(&creds, format!("{good}garbage without fields\n")).unwrap();
        std::thread::sleep(Duration::from_millis(2_500));
        let (reply, _, _) = raw_login(addr, "alice", "fresh-pw");
        assert!(reply.starts_with("230"), "last good copy kept: {reply:?}");
        assert!(
            served.stderr().contains("credentials.txt:"),
            "the bad line is logged: {}",
            served.stderr()
        );
    }

    #[test]
    fn sigterm_lets_a_running_upload_finish() {
        let dir = instance();
        add_user(&dir, "alice", "alice-pw", false);
        let mut served = Served::start(dir.path(), &["--listen", "127.0.0.1:0"]);
        let addr = listening(&served.line());
        let (reply, mut r, mut w) = raw_login(addr, "alice", "alice-pw");
        assert!(reply.starts_with("230"), "{reply:?}");
        assert!(command(&mut r, &mut w, "TYPE I").starts_with("200"));
        let epsv = command(&mut r, &mut w, "EPSV");
        let port: u16 = epsv
            .split("|||")
            .nth(1)
            .and_then(|s| s.split('|').next())
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("EPSV: {epsv:?}"));
        let mut data = TcpStream::connect((addr.ip(), port)).expect("data connection");
        let opening = command(&mut r, &mut w, "STOR late.bin");
        assert!(opening.starts_with("150"), "{opening:?}");
        let body = pseudo_random(400_000, 11);
        data.write_all(&body[..200_000]).unwrap();

        // Shut down mid-transfer: the upload still completes (SPEC: up to 10 s).
        served.sigterm();
        std::thread::sleep(Duration::from_millis(500));
        data.write_all(&body[200_000..]).unwrap();
        drop(data);
        let done = read_reply(&mut r);
        assert!(done.starts_with("226 "), "upload during shutdown: {done:?}");
        let mut last = String::new();
        r.read_line(&mut last).expect("421 after the transfer");
        assert!(last.starts_with("421 "), "{last:?}");
        let status = served.wait_exit(12);
        assert_eq!(status.code(), Some(0), "stderr:\n{}", served.stderr());
        assert_eq!(
            sha256(&std::fs::read(dir.path().join("server_storage/alice/late.bin")).unwrap()),
            sha256(&body)
        );
    }

    /// SPEC "Access model": no secret in any log at any RUST_LOG level. PASS, SITE ADDUSER
    /// and SIGNUP, in the clear and with a wrong password, at trace.
    #[test]
    fn no_password_reaches_the_server_log_at_trace() {
        let dir = instance();
        add_user(&dir, "root", "Root-Secr3t", true);
        let mut served = Served::start_with_env(
            dir.path(),
            &["--listen", "127.0.0.1:0", "--allow-signup"],
            &[("RUST_LOG", "trace")],
        );
        let addr = listening(&served.line());
        let (reply, _, _) = raw_login(addr, "root", "Wrong-Secr3t");
        assert!(reply.starts_with("530"), "{reply:?}");
        let (mut r, mut w) = connect(addr);
        let reply = command(&mut r, &mut w, "SITE SIGNUP carol Signup-Secr3t");
        assert!(reply.starts_with("200"), "SIGNUP: {reply:?}");
        let (reply, mut r, mut w) = raw_login(addr, "root", "Root-Secr3t");
        assert!(reply.starts_with("230"), "{reply:?}");
        let reply = command(&mut r, &mut w, "SITE ADDUSER dave Adduser-Secr3t");
        assert!(reply.starts_with("200"), "ADDUSER: {reply:?}");
        assert!(command(&mut r, &mut w, "QUIT").starts_with("221"));
        assert!(
            wait_until(Duration::from_secs(5), || served
                .stderr()
                .lines()
                .any(|l| l.contains("disconnect") && l.contains("user=root"))),
            "the log shows the session: {}",
            served.stderr()
        );
        let log = served.stderr();
        assert!(log.contains("TRACE"), "trace is on: {log}");
        for secret in [
            "Root-Secr3t",
            "Wrong-Secr3t",
            "Signup-Secr3t",
            "Adduser-Secr3t",
        ] {
            assert!(!log.contains(secret), "{secret} in the log:\n{log}");
        }
    }

    #[test]
    fn second_start_creates_no_admin() {
        let dir = instance();
        add_user(&dir, "alice", "alice-pw", false);
        let mut served = Served::start(dir.path(), &["--listen", "127.0.0.1:0"]);
        let addr = listening(&served.line());
        let rest = served.lines_until("instance directory ");
        assert!(
            !rest.iter().any(|l| l.contains("created account")),
            "{rest:?}"
        );
        // Nothing more on stdout: the server is serving.
        let (reply, _, _) = raw_login(addr, "alice", "alice-pw");
        assert!(reply.starts_with("230"), "{reply:?}");
        assert!(
            served.lines.try_recv().is_err(),
            "no created-admin line after start"
        );
        assert_eq!(user_list(&dir), "alice user active\n");
    }

    #[test]
    fn two_listen_addresses_both_serve() {
        let dir = instance();
        add_user(&dir, "alice", "alice-pw", false);
        let mut served = Served::start(
            dir.path(),
            &["--listen", "127.0.0.1:0", "--listen", "127.0.0.1:0"],
        );
        let a = listening(&served.line());
        let b = listening(&served.line());
        assert_ne!(a, b);
        for addr in [a, b] {
            let (reply, mut r, mut w) = raw_login(addr, "alice", "alice-pw");
            assert!(reply.starts_with("230"), "{addr}: {reply:?}");
            assert_eq!(
                command(&mut r, &mut w, "PWD"),
                "257 \"/alice\" is the current directory.\r\n"
            );
        }
    }

    #[test]
    fn config_file_listen_and_flag_override() {
        let dir = instance();
        add_user(&dir, "alice", "alice-pw", false);
        // A free port for the config file's listen key.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        std::fs::write(
            dir.path().join("ferroftp.toml"),
            format!("bcrypt_cost = 4\nlisten = [\"127.0.0.1:{port}\"]\n"),
        )
        .unwrap();
        let mut served = Served::start(dir.path(), &[]);
        assert_eq!(served.line(), format!("listening on 127.0.0.1:{port}"));
        drop(served);

        let mut served = Served::start(dir.path(), &["--listen", "127.0.0.1:0"]);
        let addr = listening(&served.line());
        assert_ne!(addr.port(), port, "the flag overrides the file");
    }

    #[test]
    fn ipv6_listener_serves() {
        if std::net::TcpListener::bind("[::1]:0").is_err() {
            eprintln!("SKIPPED ipv6_listener_serves: ::1 is not configured on this machine");
            return;
        }
        let dir = instance();
        add_user(&dir, "alice", "alice-pw", false);
        let mut served = Served::start(dir.path(), &["--listen", "[::1]:0"]);
        let line = served.line();
        let addr = listening(&line);
        assert!(addr.is_ipv6(), "{line}");
        assert_eq!(line, format!("listening on [::1]:{}", addr.port()));

        // curl over IPv6: EPSV upload, listing, download.
        let tmp = tempfile::tempdir().unwrap();
        let body = pseudo_random(20_000, 10);
        let local = tmp.path().join("six.bin");
        std::fs::write(&local, &body).unwrap();
        let url = format!("ftp://alice:alice-pw@[::1]:{}/six.bin", addr.port());
        let curl = |args: &[&str]| {
            run_with_timeout(
                Command::new("curl")
                    .args(["-q", "-sS", "--connect-timeout", "5", "--max-time", "30"])
                    .args(args),
                60,
            )
        };
        curl(&["-T", local.to_str().unwrap(), &url]).ok("curl -T over IPv6");
        assert_eq!(
            sha256(&std::fs::read(dir.path().join("server_storage/alice/six.bin")).unwrap()),
            sha256(&body)
        );
        let back = tmp.path().join("back.bin");
        curl(&["-o", back.to_str().unwrap(), &url]).ok("curl -o over IPv6");
        assert_eq!(sha256(&std::fs::read(&back).unwrap()), sha256(&body));
        let names = curl(&[
            "--list-only",
            &format!("ftp://alice:alice-pw@[::1]:{}/", addr.port()),
        ])
        .ok("curl NLST over IPv6")
        .stdout;
        assert_eq!(names, "six.bin\n");
    }
}
