//! PROXY protocol (v1/v2) on the control listener: behind a trusted proxy the client the
//! header names drives the IP block, the per-IP limit, the data-connection check and STAT;
//! an untrusted peer is a direct client; a trusted one without a header gets no greeting.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::support::*;

const PROXY: &str = "127.0.0.10";

fn proxied_server(configure: impl FnOnce(&mut ferroftp::config::Settings)) -> TestServer {
    TestServer::start_with(|s| {
        s.proxy_protocol = true;
        s.proxy_trusted = vec![ipnet::IpNet::from(PROXY.parse::<IpAddr>().unwrap())];
        configure(s);
    })
}

/// A v1 header naming `client`:`port`.
fn v1(client: &str, port: u16, server: SocketAddr) -> String {
    format!(
        "PROXY TCP4 {client} {} {port} {}\r\n",
        server.ip(),
        server.port()
    )
}

/// A v2 header: PROXY for `client` or, with `None`, LOCAL (a health check).
fn v2(client: Option<SocketAddr>, server: SocketAddr) -> Vec<u8> {
    let mut h = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    let (SocketAddr::V4(src), SocketAddr::V4(dst)) = (client.unwrap_or(server), server) else {
        panic!("IPv4 only here");
    };
    h.push(if client.is_some() { 0x21 } else { 0x20 });
    h.push(0x11);
    h.extend_from_slice(&12u16.to_be_bytes());
    h.extend_from_slice(&src.ip().octets());
    h.extend_from_slice(&dst.ip().octets());
    h.extend_from_slice(&src.port().to_be_bytes());
    h.extend_from_slice(&dst.port().to_be_bytes());
    h
}

/// A connection from the proxy's address that has sent `header` and read the first reply.
fn through_proxy(server: &TestServer, header: &[u8]) -> (Raw, String) {
    let mut raw = Raw::connect_from(PROXY, server.addr);
    raw.send_bytes(header);
    let first = raw.reply();
    (raw, first)
}

/// The address of a `227 Entering Passive Mode (h1,h2,h3,h4,p1,p2).` reply.
fn pasv_addr(reply: &str) -> SocketAddr {
    assert!(reply.starts_with("227 "), "{reply}");
    let inner = &reply[reply.find('(').unwrap() + 1..reply.find(')').unwrap()];
    let n: Vec<u16> = inner.split(',').map(|x| x.parse().unwrap()).collect();
    let ip = std::net::Ipv4Addr::new(n[0] as u8, n[1] as u8, n[2] as u8, n[3] as u8);
    SocketAddr::from((ip, n[4] * 256 + n[5]))
}

fn stat_names(raw: &mut Raw) -> String {
    let stat = raw.cmd("STAT");
    stat.lines()
        .find_map(|l| l.trim().strip_prefix("Connected to ").map(str::to_owned))
        .unwrap_or_else(|| panic!("no 'Connected to' in {stat:?}"))
}

#[test]
fn proxy_header_names_the_client_for_stat_and_the_data_connection() {
    let server = proxied_server(|_| {});
    let (mut raw, greeting) =
        through_proxy(&server, v1("127.0.0.5", 40000, server.addr).as_bytes());
    assert!(greeting.starts_with("220 "), "{greeting}");
    assert_eq!(
        raw.cmd("USER alice"),
        "331 Please specify the password.\r\n"
    );
    assert_eq!(raw.cmd("PASS alice-pw"), "230 Login successful.\r\n");
    assert_eq!(stat_names(&mut raw), "127.0.0.5");

    // EPSV would send the client to the proxy's address; PASV names this node.
    assert_eq!(
        raw.cmd("EPSV"),
        "502 EPSV is not available through a proxy; use PASV.\r\n"
    );
    // The data connection must come from the client, not from the proxy's address.
    let data_addr = pasv_addr(&raw.cmd("PASV"));
    assert_eq!(data_addr.ip(), server.addr.ip());
    let thief = connect_from(PROXY.parse().unwrap(), data_addr).unwrap();
    let real = connect_from("127.0.0.5".parse().unwrap(), data_addr).unwrap();
    assert!(raw.cmd("STOR via-proxy.txt").starts_with("150 "));
    (&real).write_all(b"through the proxy").unwrap();
    drop(real);
    assert_eq!(raw.reply(), "226 Transfer complete.\r\n");
    thief
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    assert_eq!(
        (&thief).read(&mut [0u8; 8]).unwrap_or(0),
        0,
        "the proxy's address was refused"
    );
    assert_eq!(
        std::fs::read(server.storage("alice/via-proxy.txt")).unwrap(),
        b"through the proxy"
    );

    // v2, as HAProxy's send-proxy-v2 sends it.
    let client: SocketAddr = "127.0.0.7:41000".parse().unwrap();
    let (mut raw, greeting) = through_proxy(&server, &v2(Some(client), server.addr));
    assert!(greeting.starts_with("220 "), "{greeting}");
    raw.cmd("USER bob");
    assert_eq!(raw.cmd("PASS bob-pw"), "230 Login successful.\r\n");
    assert_eq!(stat_names(&mut raw), "127.0.0.7");

    // LOCAL (a health check) speaks for the proxy itself.
    let (mut raw, greeting) = through_proxy(&server, &v2(None, server.addr));
    assert!(greeting.starts_with("220 "), "{greeting}");
    raw.cmd("USER bob");
    raw.cmd("PASS bob-pw");
    assert_eq!(stat_names(&mut raw), PROXY);
}

#[test]
fn failed_logins_block_the_named_client_not_the_proxy() {
    let server = proxied_server(|_| {});
    for _ in 0..5 {
        let (mut raw, greeting) =
            through_proxy(&server, v1("127.0.0.5", 40000, server.addr).as_bytes());
        assert!(greeting.starts_with("220 "), "{greeting}");
        raw.cmd("USER alice");
        assert_eq!(raw.cmd("PASS wrong"), "530 Login incorrect.\r\n");
    }
    let (_raw, refused) = through_proxy(&server, v1("127.0.0.5", 40001, server.addr).as_bytes());
    assert_eq!(
        refused,
        "421 Too many failed logins from your address; try again later.\r\n"
    );
    let (mut raw, greeting) =
        through_proxy(&server, v1("127.0.0.6", 40002, server.addr).as_bytes());
    assert!(
        greeting.starts_with("220 "),
        "another client behind the proxy: {greeting}"
    );
    raw.cmd("USER alice");
    assert_eq!(raw.cmd("PASS alice-pw"), "230 Login successful.\r\n");
    let blocked: IpAddr = "127.0.0.5".parse().unwrap();
    assert!(server.shared.throttle.is_blocked(blocked));
    assert!(!server.shared.throttle.is_blocked(PROXY.parse().unwrap()));
}

#[test]
fn the_per_ip_limit_counts_the_named_client() {
    let server = proxied_server(|s| s.max_per_ip = 2);
    let header = v1("127.0.0.5", 40000, server.addr);
    let (_a, first) = through_proxy(&server, header.as_bytes());
    let (_b, second) = through_proxy(&server, header.as_bytes());
    assert!(first.starts_with("220 ") && second.starts_with("220 "));
    let (_c, third) = through_proxy(&server, header.as_bytes());
    assert_eq!(third, "421 Too many connections from your address.\r\n");
    // The proxy's own address is not the limit: other clients behind it still get in.
    let others: Vec<_> = (20..24)
        .map(|i| {
            through_proxy(
                &server,
                v1(&format!("127.0.0.{i}"), 40000, server.addr).as_bytes(),
            )
        })
        .collect();
    for (_, greeting) in &others {
        assert!(greeting.starts_with("220 "), "{greeting}");
    }
}

#[test]
fn a_full_server_lets_only_a_known_client_evict_a_waiting_session() {
    let server = proxied_server(|s| {
        s.max_sessions = 2;
        s.max_per_ip = 1;
    });
    let over = v1("127.0.0.5", 40000, server.addr);
    let (mut seated, first) = through_proxy(&server, over.as_bytes());
    assert!(first.starts_with("220 "), "{first}");
    seated.cmd("USER alice");
    assert_eq!(seated.cmd("PASS alice-pw"), "230 Login successful.\r\n");
    let (mut waiting, second) =
        through_proxy(&server, v1("127.0.0.6", 40001, server.addr).as_bytes());
    assert!(second.starts_with("220 "), "{second}");
    std::thread::sleep(Duration::from_millis(1100));
    // Over its per-IP limit: refused, and the waiting session keeps its seat.
    let (_again, third) = through_proxy(&server, over.as_bytes());
    assert_eq!(third, "421 Too many connections from your address.\r\n");
    // A connection whose header does not come: nobody is evicted for it.
    let mut silent = Raw::connect_from(PROXY, server.addr);
    silent.set_timeout(Duration::from_secs(5));
    assert_eq!(
        silent.try_reply().as_deref(),
        Some("421 Too many connections.\r\n")
    );
    assert_eq!(waiting.cmd("NOOP"), "200 NOOP ok.\r\n");
    // A client the header names, within its limit, takes the longest-waiting seat.
    let (mut newcomer, greeting) =
        through_proxy(&server, v1("127.0.0.7", 40002, server.addr).as_bytes());
    assert!(greeting.starts_with("220 "), "{greeting}");
    waiting.set_timeout(Duration::from_secs(5));
    assert_eq!(
        waiting.try_reply().as_deref(),
        Some("421 Server busy, try again later.\r\n")
    );
    assert_eq!(
        newcomer.cmd("USER alice"),
        "331 Please specify the password.\r\n"
    );
}

#[test]
fn untrusted_peers_are_direct_clients_and_a_trusted_one_needs_a_header() {
    let server = proxied_server(|_| {});
    // From an untrusted address a PROXY line is just an unknown command, believed by no one.
    let mut raw = Raw::connect_from("127.0.0.20", server.addr);
    assert!(raw.reply().starts_with("220 "));
    assert_eq!(
        raw.cmd("PROXY TCP4 127.0.0.99 127.0.0.1 1 21")
            .split(' ')
            .next(),
        Some("500")
    );
    raw.cmd("USER alice");
    raw.cmd("PASS alice-pw");
    assert_eq!(stat_names(&mut raw), "127.0.0.20");

    // From the trusted proxy, anything but a header closes the connection without a word.
    let mut raw = Raw::connect_from(PROXY, server.addr);
    raw.send("USER alice");
    let mut rest = Vec::new();
    let _ = raw.stream().read_to_end(&mut rest);
    assert_eq!(rest, b"", "no greeting without a header");

    // A malformed header likewise; the server goes on serving.
    let mut raw = Raw::connect_from(PROXY, server.addr);
    raw.send("PROXY TCP4 999.1.1.1 127.0.0.1 1 2");
    let mut rest = Vec::new();
    let _ = raw.stream().read_to_end(&mut rest);
    assert_eq!(rest, b"");
    assert!(server.raw().cmd("NOOP").starts_with("200 "));
}

#[test]
fn proxy_header_then_implicit_tls() {
    let (server, addr) = TestServer::start_tls(|s| {
        s.proxy_protocol = true;
        s.proxy_trusted = vec![ipnet::IpNet::from(PROXY.parse::<IpAddr>().unwrap())];
    });
    let mut tcp = connect_from(PROXY.parse().unwrap(), addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    // The ClientHello follows the header at once: the server must read exactly the header.
    tcp.write_all(v1("127.0.0.8", 40000, addr).as_bytes())
        .unwrap();
    let mut tls = TlsRaw::over(tcp, server.tls_client_config());
    let greeting = tls.reply();
    assert!(greeting.starts_with("220 "), "{greeting}");
    tls.login(ALICE);
    let stat = tls.cmd("STAT");
    assert!(stat.contains("Connected to 127.0.0.8"), "{stat}");
}

/// A node behind Debian's HAProxy (`send-proxy-v2`): curl uploads and downloads through it
/// with the data connections straight to the node, and the log, the ban and STAT name the
/// real client, never the proxy.
#[test]
fn behind_a_real_haproxy_the_client_address_reaches_logs_bans_and_data() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("ferroftp.toml"),
        "bcrypt_cost = 4\nproxy_protocol = true\nmax_login_failures = 2\n",
    )
    .unwrap();
    user_add(dir.path(), ALICE);
    let mut node = Served::start(dir.path(), &["--listen", "127.0.0.11:0"]);
    let node_addr = listening(node.lines_until("listening on").last().unwrap());
    let proxy = Haproxy::start(PROXY, &[node_addr]);

    let body: Vec<u8> = (0..300_000u32).flat_map(|i| i.to_le_bytes()).collect();
    let src = dir.path().join("up.bin");
    std::fs::write(&src, &body).unwrap();
    let url = format!("ftp://alice:{}@{}/up.bin", ALICE.1, proxy.addr);
    let curl = |args: &[&str]| {
        run_with_timeout(
            std::process::Command::new("curl")
                .args(["-sS", "--interface", "127.0.0.5", "--no-ftp-skip-pasv-ip"])
                .args(args),
            60,
        )
    };
    curl(&["-T", src.to_str().unwrap(), &url]).ok("curl upload through haproxy");
    let dst = dir.path().join("down.bin");
    curl(&["-o", dst.to_str().unwrap(), &url]).ok("curl download through haproxy");
    assert!(
        std::fs::read(&dst).unwrap() == body,
        "byte-exact through the proxy"
    );

    let mut raw = Raw::connect_from("127.0.0.5", proxy.addr);
    assert!(raw.reply().starts_with("220 "));
    raw.cmd("USER alice");
    assert_eq!(raw.cmd("PASS alice-pw"), "230 Login successful.\r\n");
    assert_eq!(stat_names(&mut raw), "127.0.0.5");

    for _ in 0..2 {
        let mut bad = Raw::connect_from("127.0.0.6", proxy.addr);
        assert!(bad.reply().starts_with("220 "));
        bad.cmd("USER alice");
        assert_eq!(bad.cmd("PASS wrong"), "530 Login incorrect.\r\n");
    }
    let mut banned = Raw::connect_from("127.0.0.6", proxy.addr);
    assert_eq!(
        banned.reply(),
        "421 Too many failed logins from your address; try again later.\r\n"
    );
    let mut other = Raw::connect_from("127.0.0.5", proxy.addr);
    assert!(
        other.reply().starts_with("220 "),
        "the proxy itself is not banned"
    );

    let log = node.stderr();
    assert!(log.contains("connect from 127.0.0.5:"), "{log}");
    assert!(
        log.contains("login failed: user=alice ip=127.0.0.6"),
        "{log}"
    );
    assert!(log.contains("blocking ip=127.0.0.6 "), "{log}");
    assert!(
        !log.contains("ip=127.0.0.10"),
        "the proxy is named nowhere: {log}"
    );
}
