//! Operating a running server: the Prometheus endpoint (`metrics_listen`), scraped with curl
//! after real FTP traffic from suppaftp.

use std::io::Cursor;

use suppaftp::FtpStream;
use suppaftp::types::FileType;

use crate::support::{ALICE, Served, TestServer, place, run_with_timeout};

/// What curl gets from `url`: (HTTP status, Content-Type, body).
fn scrape(url: &str) -> (String, String, String) {
    let ran = run_with_timeout(
        std::process::Command::new("curl").args([
            "-sS",
            "-w",
            "\n%{http_code} %{content_type}",
            url,
        ]),
        30,
    )
    .ok("curl");
    let (body, tail) = ran.stdout.rsplit_once('\n').unwrap();
    let (status, kind) = tail.split_once(' ').unwrap();
    (status.to_owned(), kind.to_owned(), body.to_owned())
}

fn metric(body: &str, name: &str) -> Option<u64> {
    body.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

/// A fresh instance directory with `toml` as its ferroftp.toml.
fn instance_with(toml: impl AsRef<str>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ferroftp.toml"), toml.as_ref()).unwrap();
    dir
}

/// `serve` on an instance with `toml` must fail with exactly `ferroftp.toml:LINE: what`.
fn assert_start_refused(toml: &str, line: usize, what: &str) {
    let dir = instance_with(toml);
    let ran = run_with_timeout(
        std::process::Command::new(env!("CARGO_BIN_EXE_ferroftp"))
            .args(["serve", "--listen", "127.0.0.1:0", "--dir"])
            .arg(dir.path()),
        30,
    );
    assert!(!ran.success(), "{ran:?}");
    let path = dir.path().join("ferroftp.toml");
    assert_eq!(
        ran.stderr,
        format!("error: {}:{line}: {what}\n", path.display())
    );
}

/// The addresses the shipped fail2ban filter finds in `log`, one a line.
fn fail2ban_ips(log: &std::path::Path) -> String {
    let filter = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/contrib/fail2ban/filter.d/ferroftp.conf"
    );
    run_with_timeout(
        std::process::Command::new("fail2ban-regex")
            .args(["-o", "ip"])
            .arg(log)
            .arg(filter),
        60,
    )
    .ok("fail2ban-regex")
    .stdout
}

#[test]
fn metrics_count_sessions_logins_transfers_and_errors() {
    let server =
        TestServer::start_with(|s| s.metrics_listen = Some("127.0.0.1:0".parse().unwrap()));
    let url = format!("http://{}/metrics", server.metrics_addr.expect("bound"));
    place(&server, "alice/down.bin", &[7u8; 5000], "alice", false);

    let (status, kind, body) = scrape(&url);
    assert_eq!(status, "200");
    assert_eq!(
        kind,
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    assert_eq!(metric(&body, "ferroftp_workers_max"), Some(256), "{body}");
    assert_eq!(metric(&body, "ferroftp_sessions_open"), Some(0), "{body}");
    assert!(body.ends_with("# EOF\n"), "{body}");

    let mut wrong = FtpStream::connect(server.addr).unwrap();
    assert!(wrong.login(ALICE.0, "not-the-password").is_err());
    let mut ftp = FtpStream::connect(server.addr).unwrap();
    ftp.login(ALICE.0, ALICE.1).unwrap();
    ftp.transfer_type(FileType::Binary).unwrap();
    assert_eq!(
        ftp.retr_as_buffer("down.bin").unwrap().into_inner().len(),
        5000
    );
    ftp.put_file("up.bin", &mut Cursor::new(vec![1u8; 3000]))
        .unwrap();
    assert!(ftp.retr_as_buffer("missing.bin").is_err());

    let (_, _, body) = scrape(&url);
    for (name, value) in [
        ("ferroftp_connections_total", 2),
        ("ferroftp_sessions_open", 2),
        ("ferroftp_logins_total{result=\"ok\"}", 1),
        ("ferroftp_logins_total{result=\"failed\"}", 1),
        ("ferroftp_transfer_bytes_total{direction=\"out\"}", 5000),
        ("ferroftp_transfer_bytes_total{direction=\"in\"}", 3000),
        ("ferroftp_transfer_files_total{direction=\"out\"}", 1),
        ("ferroftp_transfer_files_total{direction=\"in\"}", 1),
        ("ferroftp_transfer_errors_total{code=\"550\"}", 1),
        ("ferroftp_blocked_ips", 0),
    ] {
        assert_eq!(metric(&body, name), Some(value), "{name} in:\n{body}");
    }
    assert!(
        metric(&body, "ferroftp_workers_started").is_some_and(|n| n >= 2),
        "{body}"
    );
    ftp.quit().unwrap();
    drop(wrong);

    let (status, _, body) = scrape(&format!("http://{}/other", server.metrics_addr.unwrap()));
    assert_eq!(
        (status.as_str(), body.as_str()),
        ("404", "Not found: the metrics are at /metrics\n")
    );
}

/// A client that pipelines scrapes and reads no answer holds one request, not a growing
/// queue, and does not hold up the shutdown.
#[test]
fn a_client_that_never_reads_neither_grows_nor_blocks_the_metrics_endpoint() {
    use std::io::Write;
    let dir = instance_with("bcrypt_cost = 4\nmetrics_listen = \"127.0.0.1:0\"\n");
    let mut served = Served::start(dir.path(), &["--listen", "127.0.0.1:0"]);
    served.line();
    let url = served
        .line()
        .strip_prefix("metrics on ")
        .unwrap()
        .to_owned();
    let addr = url
        .trim_start_matches("http://")
        .trim_end_matches("/metrics")
        .to_owned();
    let mut greedy = std::net::TcpStream::connect(&addr).unwrap();
    greedy
        .set_write_timeout(Some(std::time::Duration::from_secs(2)))
        .unwrap();
    for _ in 0..20_000 {
        if greedy
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            .is_err()
        {
            break;
        }
    }
    // Another scraper is still served.
    let (status, _, _) = scrape(&url);
    assert_eq!(status, "200");
    served.lines_until("created account admin");
    served.sigterm();
    assert_eq!(served.wait_exit(15).code(), Some(0), "{}", served.stderr());
}

#[test]
fn without_metrics_listen_nothing_is_served() {
    let server = TestServer::start();
    assert_eq!(server.metrics_addr, None);
}

/// `serve` names the endpoint right after its listeners, with the port the OS picked.
#[test]
fn serve_prints_where_the_metrics_are() {
    let dir = instance_with("bcrypt_cost = 4\nmetrics_listen = \"127.0.0.1:0\"\n");
    let mut served = Served::start(dir.path(), &["--listen", "127.0.0.1:0"]);
    assert!(served.line().starts_with("listening on 127.0.0.1:"));
    let line = served.line();
    let url = line
        .strip_prefix("metrics on ")
        .unwrap_or_else(|| panic!("{line:?}"));
    assert!(
        url.starts_with("http://127.0.0.1:") && url.ends_with("/metrics"),
        "{url}"
    );
    let (status, _, body) = scrape(url);
    assert_eq!(status, "200", "{body}");
    assert_eq!(metric(&body, "ferroftp_sessions_open"), Some(0));
    // The SIGTERM handler is installed once the start lines are out.
    served.lines_until("created account admin");
    served.sigterm();
    assert_eq!(served.wait_exit(12).code(), Some(0));
}

/// The shipped fail2ban filter (`contrib/fail2ban/`) against the server's real log lines, as
/// `fail2ban-regex` reads them: one match per wrong password, with the client's address, and
/// no user name can make it read another address.
#[test]
fn the_fail2ban_filter_finds_each_wrong_password_and_its_address() {
    use std::io::{BufRead, BufReader, Write};
    let dir = instance_with("bcrypt_cost = 4\nmax_login_failures = 100\n");
    let mut served = Served::start(dir.path(), &["--listen", "127.0.0.1:0"]);
    let addr = crate::support::listening(&served.line());
    served.lines_until("created account admin");
    let attempt = |src: &str, user: &str, password: &str| {
        let stream = crate::support::connect_from(src.parse().unwrap(), addr).unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut writer = stream;
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        write!(writer, "USER {user}\r\nPASS {password}\r\n").unwrap();
        for _ in 0..2 {
            line.clear();
            reader.read_line(&mut line).unwrap();
        }
        line
    };
    assert!(attempt("127.0.0.2", "alice", "guess-1").starts_with("530 "));
    assert!(attempt("127.0.0.3", "x ip=10.9.9.9", "guess-2").starts_with("530 "));
    assert!(attempt("127.0.0.2", "admin", "guess-3").starts_with("530 "));
    let log = dir.path().join("server.log");
    let matched = crate::support::wait_until(std::time::Duration::from_secs(5), || {
        std::fs::write(&log, served.stderr()).unwrap();
        fail2ban_ips(&log) == "127.0.0.2\n127.0.0.3\n127.0.0.2\n"
    });
    assert!(matched, "fail2ban-regex on:\n{}", served.stderr());
    let jail = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/contrib/fail2ban/jail.d/ferroftp.conf"
    ))
    .unwrap();
    for line in [
        "[ferroftp]",
        "filter = ferroftp",
        "backend = systemd",
        "maxretry = 5",
    ] {
        assert!(jail.lines().any(|l| l == line), "jail has {line}");
    }
    served.sigterm();
    served.wait_exit(12);
}

mod lockouts {
    use super::*;
    use crate::support::{ADMIN, Raw, wait_until};
    use std::time::Duration;

    /// One login attempt from `src`: the greeting, then (if it was 220) the PASS reply.
    fn attempt(addr: std::net::SocketAddr, src: &str, password: &str) -> String {
        let mut raw = Raw::connect_from(src, addr);
        let greeting = raw.reply();
        if !greeting.starts_with("220 ") {
            return greeting;
        }
        raw.cmd("USER alice");
        raw.cmd(&format!("PASS {password}"))
    }

    fn block(addr: std::net::SocketAddr, src: &str, failures: u32) {
        for _ in 0..failures {
            assert_eq!(attempt(addr, src, "wrong"), "530 Login incorrect.\r\n");
        }
        assert!(
            attempt(addr, src, ALICE.1).starts_with("421 "),
            "{src} is blocked"
        );
    }

    #[test]
    fn site_unblock_lets_a_locked_out_address_back_in() {
        let server = TestServer::start_with(|s| s.throttle.max_failures = 3);
        block(server.addr, "127.0.0.6", 3);
        let mut alice = server.login(ALICE);
        assert_eq!(
            alice.cmd("SITE UNBLOCK 127.0.0.6"),
            "550 Permission denied.\r\n"
        );
        let mut admin = server.login(ADMIN);
        assert_eq!(
            admin.cmd("SITE UNBLOCK 127.0.0.6"),
            "200 Unblocked 127.0.0.6.\r\n"
        );
        assert!(attempt(server.addr, "127.0.0.6", ALICE.1).starts_with("230 "));
        assert_eq!(
            admin.cmd("SITE UNBLOCK 127.0.0.6"),
            "200 127.0.0.6 was not blocked.\r\n"
        );
        assert_eq!(
            admin.cmd("SITE UNBLOCK nonsense"),
            "501 nonsense is not an IP address.\r\n"
        );
        assert!(admin.cmd("SITE HELP").contains(" UNBLOCK "));
    }

    #[test]
    fn a_safelisted_network_is_never_blocked() {
        let server = TestServer::start_with(|s| {
            s.throttle.max_failures = 2;
            s.login_safelist = vec!["127.0.0.7/32".parse().unwrap()];
        });
        for _ in 0..6 {
            assert_eq!(
                attempt(server.addr, "127.0.0.7", "wrong"),
                "530 Login incorrect.\r\n"
            );
        }
        assert!(attempt(server.addr, "127.0.0.7", ALICE.1).starts_with("230 "));
        block(server.addr, "127.0.0.8", 2);
    }

    /// `ferroftp unblock IP` reaches the running server through its instance directory.
    #[test]
    fn the_unblock_command_reaches_the_running_server() {
        let dir = instance_with(
            "bcrypt_cost = 4\nmax_login_failures = 2\nlogin_safelist = [\"127.0.0.9\", \"10.0.0.0/8\"]\n",
        );
        let d = dir.path().to_str().unwrap();
        let add = crate::support::run_with_input(
            std::process::Command::new(env!("CARGO_BIN_EXE_ferroftp")).args([
                "user",
                "add",
                "alice",
                "--password-stdin",
                "--dir",
                d,
            ]),
            Some(format!("{}\n", ALICE.1).as_bytes()),
            30,
        );
        add.ok("user add");
        let mut served = Served::start(dir.path(), &["--listen", "127.0.0.1:0"]);
        let addr = crate::support::listening(&served.line());
        block(addr, "127.0.0.10", 2);
        let ferroftp = |args: &[&str]| {
            run_with_timeout(
                std::process::Command::new(env!("CARGO_BIN_EXE_ferroftp")).args(args),
                30,
            )
        };
        let ran = ferroftp(&["unblock", "127.0.0.10", "--dir", d]).ok("unblock");
        assert_eq!(
            ran.stdout,
            "unblock of 127.0.0.10 requested; a running server applies it within 2 seconds\n"
        );
        assert!(
            wait_until(Duration::from_secs(3), || attempt(
                addr,
                "127.0.0.10",
                ALICE.1
            )
            .starts_with("230 ")),
            "unblocked within 3 s; log:\n{}",
            served.stderr()
        );
        assert!(
            served
                .stderr()
                .contains("unblocked ip=127.0.0.10 (ferroftp unblock)")
        );
        // The safelist from the file: never blocked, and never matched by fail2ban either.
        for _ in 0..4 {
            assert_eq!(
                attempt(addr, "127.0.0.9", "wrong"),
                "530 Login incorrect.\r\n"
            );
        }
        assert!(
            wait_until(Duration::from_secs(3), || served
                .stderr()
                .contains("login failed: user=alice ip=127.0.0.9 (safelisted)")),
            "{}",
            served.stderr()
        );
        let log = dir.path().join("server.log");
        std::fs::write(&log, served.stderr()).unwrap();
        assert_eq!(
            fail2ban_ips(&log),
            "127.0.0.10\n127.0.0.10\n",
            "only the blocked address"
        );
        // With no server running there is nothing to lift, and nothing is written.
        let idle = tempfile::tempdir().unwrap();
        let i = idle.path().to_str().unwrap();
        let ran = ferroftp(&["unblock", "127.0.0.10", "--dir", i]).ok("unblock, no server");
        assert_eq!(
            ran.stdout,
            format!("no server is running on {i}: nothing is blocked\n")
        );
        assert!(!idle.path().join("data/unblock-requests").exists());
        let bad = ferroftp(&["unblock", "not-an-ip", "--dir", d]);
        assert!(!bad.success());
        assert_eq!(bad.stderr, "error: \"not-an-ip\" is not an IP address\n");
        served.sigterm();
        served.wait_exit(12);
    }

    #[test]
    fn a_bad_safelist_entry_stops_the_start_in_one_line() {
        assert_start_refused(
            "login_safelist = [\"10.0.0.0/33\"]\n",
            1,
            "login_safelist: \"10.0.0.0/33\" is not an address or CIDR block (ADDR or ADDR/BITS)",
        );
    }
}

/// `log_file` and `log_syslog`: the records go there instead of stderr, in a form the shipped
/// fail2ban filter reads.
mod log_targets {
    use super::*;
    use std::time::Duration;

    fn start(toml: &str) -> (tempfile::TempDir, Served, std::net::SocketAddr) {
        let dir = instance_with(format!("bcrypt_cost = 4\n{toml}"));
        let mut served = Served::start(dir.path(), &["--listen", "127.0.0.1:0"]);
        let addr = crate::support::listening(&served.line());
        served.lines_until("created account admin");
        (dir, served, addr)
    }

    fn wrong_password(addr: std::net::SocketAddr) {
        let mut raw = crate::support::Raw::connect(addr);
        assert!(raw.reply().starts_with("220 "));
        raw.cmd("USER alice");
        assert_eq!(raw.cmd("PASS wrong"), "530 Login incorrect.\r\n");
    }

    #[test]
    fn log_file_gets_the_records_instead_of_stderr() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("ferroftp.log");
        let (_instance, mut served, addr) = start(&format!(
            "max_login_failures = 100\nlog_file = {:?}\n",
            log.display().to_string()
        ));
        wrong_password(addr);
        let found = crate::support::wait_until(Duration::from_secs(3), || {
            std::fs::read_to_string(&log)
                .is_ok_and(|t| t.contains("login failed: user=alice ip=127.0.0.1"))
        });
        assert!(found, "{:?}", std::fs::read_to_string(&log));
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&log).unwrap().permissions(),
        );
        assert_eq!(mode & 0o777, 0o640);
        assert_eq!(fail2ban_ips(&log), "127.0.0.1\n");
        assert!(
            !served.stderr().contains("login failed"),
            "{}",
            served.stderr()
        );
        // logrotate moves the file away: the next records go to a new file at the path.
        std::fs::rename(&log, dir.path().join("ferroftp.log.1")).unwrap();
        let rotated = crate::support::wait_until(Duration::from_secs(5), || {
            wrong_password(addr);
            std::fs::read_to_string(&log).is_ok_and(|t| t.contains("login failed"))
        });
        assert!(rotated, "a new log file after rotation");
        served.sigterm();
        served.wait_exit(12);
    }

    #[test]
    fn log_syslog_sends_rfc3164_datagrams_with_the_level_as_severity() {
        let dir = tempfile::tempdir().unwrap();
        let socket_path = dir.path().join("log.sock");
        let socket = std::os::unix::net::UnixDatagram::bind(&socket_path).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let (_instance, mut served, addr) = start(&format!(
            "log_syslog = true\nsyslog_socket = {:?}\n",
            socket_path.display().to_string()
        ));
        wrong_password(addr);
        let mut buf = [0u8; 4096];
        let mut failed = None;
        for _ in 0..50 {
            let n = socket.recv(&mut buf).expect("a datagram");
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            if text.contains("login failed") {
                failed = Some(text);
                break;
            }
        }
        let failed = failed.expect("the failed login reached syslog");
        let pid = served.child.id();
        assert_eq!(
            failed,
            format!("<28>ferroftp[{pid}]: login failed: user=alice ip=127.0.0.1")
        );
        // As rsyslog writes it to /var/log/syslog, the filter finds the address.
        let line = format!(
            "Dec  3 06:30:01 myhost {}\n",
            failed.trim_start_matches("<28>")
        );
        let log = dir.path().join("syslog");
        std::fs::write(&log, line).unwrap();
        assert_eq!(fail2ban_ips(&log), "127.0.0.1\n");
        served.sigterm();
        served.wait_exit(12);
    }

    #[test]
    fn log_file_and_log_syslog_together_are_refused() {
        assert_start_refused(
            "log_file = \"/tmp/x.log\"\nlog_syslog = true\n",
            2,
            "log_syslog: choose one of log_file and log_syslog",
        );
    }
}
