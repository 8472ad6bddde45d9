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

#[test]
fn without_metrics_listen_nothing_is_served() {
    let server = TestServer::start();
    assert_eq!(server.metrics_addr, None);
}

/// `serve` names the endpoint right after its listeners, with the port the OS picked.
#[test]
fn serve_prints_where_the_metrics_are() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("ferroftp.toml"),
        "bcrypt_cost = 4\nmetrics_listen = \"127.0.0.1:0\"\n",
    )
    .unwrap();
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
    served.sigterm();
    assert_eq!(served.wait_exit(12).code(), Some(0));
}

/// The shipped fail2ban filter (`contrib/fail2ban/`) against the server's real log lines, as
/// `fail2ban-regex` reads them: one match per wrong password, with the client's address, and
/// no user name can make it read another address.
#[test]
fn the_fail2ban_filter_finds_each_wrong_password_and_its_address() {
    use std::io::{BufRead, BufReader, Write};
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("ferroftp.toml"),
        "bcrypt_cost = 4\nmax_login_failures = 100\n",
    )
    .unwrap();
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
    let filter = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/contrib/fail2ban/filter.d/ferroftp.conf"
    );
    let matched = crate::support::wait_until(std::time::Duration::from_secs(5), || {
        std::fs::write(&log, served.stderr()).unwrap();
        let ran = run_with_timeout(
            std::process::Command::new("fail2ban-regex")
                .args(["-o", "ip"])
                .arg(&log)
                .arg(filter),
            60,
        )
        .ok("fail2ban-regex");
        ran.stdout == "127.0.0.2\n127.0.0.3\n127.0.0.2\n"
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
