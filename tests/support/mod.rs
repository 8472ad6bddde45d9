//! Test support: an in-process ferroftp on 127.0.0.1:0 in a temp instance, `Raw`, a control
//! client that shows exact reply bytes, and file and socket helpers. FTPS helpers are in
//! `tls.rs`, child processes (external clients, `ferroftp serve`, pyftpdlib) in `process.rs`.

#![allow(dead_code)]

mod garage;
mod haproxy;
mod process;
mod tls;
pub use garage::Garage;
pub use haproxy::Haproxy;
pub use process::*;
pub use tls::*;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use ferroftp::auth::{Accounts, Password, Role};
use ferroftp::config::Settings;
use ferroftp::server::{Server, Shared, Shutdown};
use ferroftp::storage::{Meta, VirtualPath};
use sha2::{Digest, Sha256};

pub const ADMIN: (&str, &str) = ("admin", "admin-pw");
pub const ALICE: (&str, &str) = ("alice", "alice-pw");
pub const BOB: (&str, &str) = ("bob", "bob-pw");

pub struct TestServer {
    pub addr: SocketAddr,
    /// The implicit-TLS listener, when `implicit_tls_listen` was configured.
    pub implicit_addr: Option<SocketAddr>,
    /// The Prometheus endpoint, when `metrics_listen` was configured.
    pub metrics_addr: Option<SocketAddr>,
    pub dir: tempfile::TempDir,
    pub shared: Arc<Shared>,
    settings: Settings,
    shutdown: Shutdown,
    handle: Option<JoinHandle<()>>,
}

impl TestServer {
    /// A server with `admin`, `alice` and `bob` (passwords in the constants above).
    pub fn start() -> TestServer {
        TestServer::start_with(|_| {})
    }

    pub fn start_with(configure: impl FnOnce(&mut Settings)) -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut settings = Settings::local(dir.path());
        configure(&mut settings);
        std::fs::create_dir_all(dir.path().join("data")).unwrap();
        let accounts = Accounts::open(&dir.path().join("data"), 4).unwrap();
        accounts
            .add(ADMIN.0, &Password::new(ADMIN.1.into()), Role::Admin)
            .unwrap();
        accounts
            .add(ALICE.0, &Password::new(ALICE.1.into()), Role::User)
            .unwrap();
        accounts
            .add(BOB.0, &Password::new(BOB.1.into()), Role::User)
            .unwrap();
        drop(accounts);
        let server = Server::bind(settings.clone()).expect("server binds");
        TestServer::running(dir, settings, server)
    }

    fn running(dir: tempfile::TempDir, settings: Settings, server: Server) -> TestServer {
        let addr = server.local_addrs()[0];
        let implicit_addr = server.implicit_tls_addrs().first().copied();
        let metrics_addr = server.metrics_addr();
        let shutdown = server.shutdown_handle();
        let shared = server.shared();
        let handle = std::thread::spawn(move || server.run().expect("server runs"));
        TestServer {
            addr,
            implicit_addr,
            metrics_addr,
            dir,
            shared,
            settings,
            shutdown,
            handle: Some(handle),
        }
    }

    /// Stops this server and starts a new `Server` on the same instance directory and
    /// settings (a new port: use `addr`/`port()` afterwards). Everything on disk is kept.
    pub fn restart(&mut self) {
        self.stop();
        let server = Server::bind(self.settings.clone()).expect("server binds again");
        self.addr = server.local_addrs()[0];
        self.implicit_addr = server.implicit_tls_addrs().first().copied();
        self.shutdown = server.shutdown_handle();
        self.shared = server.shared();
        self.handle = Some(std::thread::spawn(move || {
            server.run().expect("server runs")
        }));
    }

    /// The settings this server was started with.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// Real path of `rel` under server_storage/.
    pub fn storage(&self, rel: &str) -> PathBuf {
        self.dir.path().join("server_storage").join(rel)
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn url(&self, user: (&str, &str)) -> String {
        format!("ftp://{}:{}@127.0.0.1:{}", user.0, user.1, self.port())
    }

    /// A raw control connection that has read the greeting.
    pub fn raw(&self) -> Raw {
        let mut raw = Raw::connect(self.addr);
        let greeting = raw.reply();
        assert!(greeting.starts_with("220 "), "greeting: {greeting}");
        raw
    }

    /// A raw control connection logged in as `user`.
    pub fn login(&self, user: (&str, &str)) -> Raw {
        let mut raw = self.raw();
        assert!(raw.cmd(&format!("USER {}", user.0)).starts_with("331 "));
        let r = raw.cmd(&format!("PASS {}", user.1));
        assert_eq!(r, "230 Login successful.\r\n");
        raw
    }

    /// A suppaftp client logged in as `user`, binary type.
    pub fn ftp(&self, user: (&str, &str)) -> suppaftp::FtpStream {
        let mut ftp = suppaftp::FtpStream::connect(self.addr).expect("connect");
        ftp.login(user.0, user.1).expect("login");
        ftp.transfer_type(suppaftp::types::FileType::Binary)
            .expect("TYPE I");
        ftp
    }

    pub fn stop(&mut self) {
        self.shutdown.trigger();
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A control connection that returns replies as the exact bytes received.
pub struct Raw {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Raw {
    pub fn connect(addr: SocketAddr) -> Raw {
        Raw::over(TcpStream::connect(addr).expect("connect"))
    }

    /// As [`Raw::connect`], from the loopback address `src` (127.0.0.x: another client IP).
    pub fn connect_from(src: &str, addr: SocketAddr) -> Raw {
        Raw::over(connect_from(src.parse().unwrap(), addr).expect("connect"))
    }

    fn over(stream: TcpStream) -> Raw {
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        Raw {
            reader: BufReader::new(stream.try_clone().unwrap()),
            writer: stream,
        }
    }

    pub fn send(&mut self, line: &str) {
        self.send_bytes(format!("{line}\r\n").as_bytes());
    }

    pub fn send_bytes(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).expect("send");
    }

    /// One whole reply (multi-line replies included), CRLFs kept.
    pub fn reply(&mut self) -> String {
        read_reply(&mut self.reader)
    }

    pub fn cmd(&mut self, line: &str) -> String {
        self.send(line);
        self.reply()
    }

    /// Opens a passive data connection (EPSV) and returns it.
    pub fn epsv(&mut self) -> TcpStream {
        let addr = self.epsv_addr();
        let s = TcpStream::connect(addr).expect("data connect");
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        s
    }

    /// Sends EPSV and returns the passive address it names (nothing connected yet).
    pub fn epsv_addr(&mut self) -> SocketAddr {
        let port = epsv_port(&self.cmd("EPSV"));
        SocketAddr::new(self.writer.peer_addr().unwrap().ip(), port)
    }

    /// `verb` over a fresh EPSV connection, reading everything: (150 line, data, final reply).
    pub fn download(&mut self, verb: &str) -> (String, Vec<u8>, String) {
        let mut data = self.epsv();
        let opening = self.cmd(verb);
        if !opening.starts_with("150") {
            return (opening, Vec::new(), String::new());
        }
        let mut buf = Vec::new();
        data.read_to_end(&mut buf).expect("read data");
        (opening, buf, self.reply())
    }

    /// `verb` (STOR/APPE/STOU) sending `body`: (150 line, final reply).
    pub fn upload(&mut self, verb: &str, body: &[u8]) -> (String, String) {
        let mut data = self.epsv();
        let opening = self.cmd(verb);
        if !opening.starts_with("150") {
            return (opening, String::new());
        }
        data.write_all(body).expect("write data");
        drop(data);
        (opening, self.reply())
    }

    pub fn stream(&self) -> &TcpStream {
        &self.writer
    }
}

/// Reads one whole reply (multi-line replies included), CRLFs kept, from a plain or TLS
/// control connection.
fn read_reply(reader: &mut impl BufRead) -> String {
    let mut out = String::new();
    reader.read_line(&mut out).expect("read reply");
    if out.len() >= 4 && out.as_bytes()[3] == b'-' {
        let code = out[..3].to_owned();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).expect("read reply") == 0 {
                break;
            }
            out.push_str(&line);
            if line.starts_with(&code) && line.as_bytes().get(3) == Some(&b' ') {
                break;
            }
        }
    }
    out
}

/// The port of a `229 Entering Extended Passive Mode (|||port|)` reply.
pub fn epsv_port(reply: &str) -> u16 {
    assert!(reply.starts_with("229 "), "EPSV: {reply}");
    reply
        .split("|||")
        .nth(1)
        .and_then(|s| s.split('|').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("EPSV: {reply}"))
}

/// Places `rel` (relative to server_storage/, e.g. `alice/f.txt`) on disk with `body` and
/// records its owner and visibility, as if `owner` had uploaded it over FTP.
pub fn place(server: &TestServer, rel: &str, body: &[u8], owner: &str, public: bool) {
    std::fs::write(server.storage(rel), body).unwrap();
    own(server, rel, owner, public);
}

/// Creates directory `rel` under server_storage/ and records its owner and visibility.
pub fn place_dir(server: &TestServer, rel: &str, owner: &str, public: bool) {
    std::fs::create_dir(server.storage(rel)).unwrap();
    own(server, rel, owner, public);
}

/// Records the owner and visibility of `rel` (which must exist under server_storage/).
pub fn own(server: &TestServer, rel: &str, owner: &str, public: bool) {
    let path = VirtualPath::root().join(&format!("/{rel}")).unwrap();
    server
        .shared
        .storage
        .record_ownership(
            &path,
            Meta {
                owner: owner.into(),
                public,
            },
        )
        .unwrap();
}

pub fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub fn sha256_file(path: &Path) -> String {
    sha256(&std::fs::read(path).expect("read file"))
}

/// Deterministic pseudo-random bytes (xorshift), so failures are reproducible.
pub fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

// ---- helpers for protocol/transfer/jail/login tests (t1) ----

impl Raw {
    /// Changes how long `reply` waits before failing the test.
    pub fn set_timeout(&self, timeout: Duration) {
        self.writer.set_read_timeout(Some(timeout)).unwrap();
    }

    /// A reply, or `None` if the wait ran out or the connection ended first.
    pub fn try_reply(&mut self) -> Option<String> {
        let mut first = String::new();
        match self.reader.read_line(&mut first) {
            Ok(0) | Err(_) => None,
            Ok(_) => Some(first),
        }
    }

    /// True once the server closed the connection (EOF, or a reset) within the read timeout.
    pub fn at_eof(&mut self) -> bool {
        let mut rest = Vec::new();
        match self.reader.read_to_end(&mut rest) {
            Ok(_) => rest.is_empty(),
            Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
        }
    }

    /// `PASV`, connecting to the announced address: (the 227 line, data connection).
    pub fn pasv(&mut self) -> (String, TcpStream) {
        let r = self.cmd("PASV");
        let port = pasv_port(&r);
        let s = TcpStream::connect(("127.0.0.1", port)).expect("data connect");
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        (r, s)
    }

    /// `verb` over EPSV; the data as text (listings).
    pub fn listing(&mut self, verb: &str) -> (String, String, String) {
        let (opening, data, done) = self.download(verb);
        (
            opening,
            String::from_utf8(data).expect("UTF-8 listing"),
            done,
        )
    }
}

/// The port of a `227 Entering Passive Mode (h1,h2,h3,h4,p1,p2).` reply.
pub fn pasv_port(reply: &str) -> u16 {
    assert!(reply.starts_with("227 "), "PASV: {reply}");
    let inner = reply
        .split('(')
        .nth(1)
        .and_then(|s| s.split(')').next())
        .expect("227 has (...)");
    let n: Vec<u16> = inner.split(',').map(|x| x.parse().unwrap()).collect();
    assert_eq!(n.len(), 6, "PASV: {reply}");
    n[4] * 256 + n[5]
}

/// Polls `cond` every 20 ms until it holds or `timeout` passes; true if it held.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Every path under `root` (relative, sorted) with its size; symlinks are listed, not followed.
/// `skip` names top-level entries to leave out.
pub fn tree(root: &Path, skip: &[&str]) -> Vec<(PathBuf, u64)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let rel = path.strip_prefix(root).unwrap().to_path_buf();
            if dir == root && skip.iter().any(|s| rel == Path::new(s)) {
                continue;
            }
            let meta = std::fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                stack.push(path);
            }
            out.push((rel, if meta.is_file() { meta.len() } else { 0 }));
        }
    }
    out.sort();
    out
}

/// Names in `dir` (sorted), dot files included.
pub fn dir_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Accepts one connection on `listener` within `timeout` (panics otherwise).
pub fn accept_within(
    listener: &std::net::TcpListener,
    timeout: Duration,
) -> (TcpStream, SocketAddr) {
    listener.set_nonblocking(true).unwrap();
    let deadline = std::time::Instant::now() + timeout;
    loop {
        match listener.accept() {
            Ok((s, from)) => {
                s.set_nonblocking(false).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
                return (s, from);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                assert!(
                    std::time::Instant::now() < deadline,
                    "no connection within {timeout:?}"
                );
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => panic!("accept: {e}"),
        }
    }
}

/// Every regular file under `root`, by relative path, with its SHA-256 (tree comparisons).
pub fn tree_hashes(root: &Path) -> std::collections::BTreeMap<PathBuf, String> {
    fn walk(root: &Path, dir: &Path, out: &mut std::collections::BTreeMap<PathBuf, String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                out.insert(
                    path.strip_prefix(root).unwrap().to_path_buf(),
                    sha256_file(&path),
                );
            }
        }
    }
    let mut out = std::collections::BTreeMap::new();
    walk(root, root, &mut out);
    out
}

/// A TCP connection to `addr` from the loopback source address `src` (any 127.0.0.x), as a
/// client on another machine of the LAN would be seen.
pub fn connect_from(src: std::net::IpAddr, addr: SocketAddr) -> std::io::Result<TcpStream> {
    assert!(
        src.is_loopback(),
        "tests connect from loopback addresses only"
    );
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        None,
    )?;
    socket.bind(&SocketAddr::new(src, 0).into())?;
    socket.connect_timeout(&addr.into(), Duration::from_secs(10))?;
    Ok(socket.into())
}

/// `REST n` right before `RETR` (after EPSV, as RFC 3659 5.3 orders it): (opening, data, final).
pub fn rest_retr(raw: &mut Raw, offset: u64, verb: &str) -> (String, Vec<u8>, String) {
    let mut data = raw.epsv();
    assert_eq!(
        raw.cmd(&format!("REST {offset}")),
        format!("350 Restart position accepted ({offset}).\r\n")
    );
    let opening = raw.cmd(verb);
    if !opening.starts_with("150 ") {
        return (opening, Vec::new(), String::new());
    }
    let mut buf = Vec::new();
    data.read_to_end(&mut buf).unwrap();
    (opening, buf, raw.reply())
}

/// `REST n` right before `STOR`: (opening, final).
pub fn rest_stor(raw: &mut Raw, offset: u64, verb: &str, body: &[u8]) -> (String, String) {
    let mut data = raw.epsv();
    raw.cmd(&format!("REST {offset}"));
    let opening = raw.cmd(verb);
    if !opening.starts_with("150 ") {
        return (opening, String::new());
    }
    data.write_all(body).unwrap();
    drop(data);
    (opening, raw.reply())
}
