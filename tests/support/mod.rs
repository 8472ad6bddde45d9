//! Test support: an in-process ferroftp on 127.0.0.1:0 in a temp instance, a raw control
//! client that shows exact reply bytes, and helpers for the external clients.

#![allow(dead_code)]

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
        let shutdown = server.shutdown_handle();
        let shared = server.shared();
        let handle = std::thread::spawn(move || server.run().expect("server runs"));
        TestServer {
            addr,
            implicit_addr,
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
        let stream = TcpStream::connect(addr).expect("connect");
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
        let mut out = String::new();
        let mut first = String::new();
        self.reader.read_line(&mut first).expect("read reply");
        out.push_str(&first);
        if first.len() >= 4 && first.as_bytes()[3] == b'-' {
            let code = &first[..3];
            loop {
                let mut line = String::new();
                if self.reader.read_line(&mut line).expect("read reply") == 0 {
                    break;
                }
                out.push_str(&line);
                if line.starts_with(code) && line.as_bytes().get(3) == Some(&b' ') {
                    break;
                }
            }
        }
        out
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
        let r = self.cmd("EPSV");
        assert!(r.starts_with("229 "), "EPSV: {r}");
        let port: u16 = r
            .split("|||")
            .nth(1)
            .and_then(|s| s.split('|').next())
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("EPSV: {r}"));
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

/// Runs an external command, failing the test with its output if it does not succeed.
pub fn run_ok(cmd: &mut std::process::Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| {
        panic!("cannot run {cmd:?}: {e} (the README test command installs it)")
    });
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
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

/// What an external command did within its time limit.
#[derive(Debug)]
pub struct Ran {
    pub status: std::process::ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    pub fn success(&self) -> bool {
        self.status.success()
    }

    /// Panics with the whole output unless the command succeeded.
    pub fn ok(self, what: &str) -> Ran {
        assert!(
            self.success(),
            "{what} failed: {}\nstdout: {}\nstderr: {}",
            self.status,
            self.stdout,
            self.stderr
        );
        self
    }
}

/// Runs `cmd` with stdin closed; a command still running after `secs` is killed and the
/// test fails with what it printed, so a hung client never hangs the test run.
pub fn run_with_timeout(cmd: &mut std::process::Command, secs: u64) -> Ran {
    run_with_input(cmd, None, secs)
}

/// As [`run_with_timeout`], writing `input` (if any) to the command's stdin, then closing it.
pub fn run_with_input(cmd: &mut std::process::Command, input: Option<&[u8]>, secs: u64) -> Ran {
    use std::process::Stdio;
    use std::time::Instant;

    cmd.stdin(if input.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap_or_else(|e| {
        panic!("cannot run {cmd:?}: {e} (the README test command installs it)")
    });
    if let Some(input) = input {
        let mut stdin = child.stdin.take().expect("piped stdin");
        let input = input.to_vec();
        std::thread::spawn(move || {
            let _ = stdin.write_all(&input);
        });
    }
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            String::from_utf8_lossy(&buf).into_owned()
        })
    };
    let out = drain(Box::new(child.stdout.take().expect("piped stdout")));
    let err = drain(Box::new(child.stderr.take().expect("piped stderr")));
    let deadline = Instant::now() + Duration::from_secs(secs);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for child") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{cmd:?} still running after {secs} s, killed\nstdout: {}\nstderr: {}",
                out.join().unwrap_or_default(),
                err.join().unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Ran {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    }
}

// ---- FTPS helpers (t4) ----

/// A rustls client stream (control or data connection).
pub type TlsStream = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

impl TestServer {
    /// As [`TestServer::start_with`], plus one implicit-TLS listener on 127.0.0.1:0; returns
    /// the server and the implicit listener's address.
    pub fn start_tls(configure: impl FnOnce(&mut Settings)) -> (TestServer, SocketAddr) {
        let server = TestServer::start_with(|s| {
            s.implicit_tls_listen = vec!["127.0.0.1:0".parse().unwrap()];
            configure(s);
        });
        let implicit = server.implicit_addr.expect("an implicit-TLS listener");
        (server, implicit)
    }

    /// The generated (or configured) certificate, `DIR/certs/cert.pem`.
    pub fn cert_pem(&self) -> PathBuf {
        self.dir.path().join("certs").join("cert.pem")
    }

    /// A rustls client config that trusts exactly this server's certificate (one per client:
    /// its session cache is what the data connections resume from).
    pub fn tls_client_config(&self) -> Arc<rustls::ClientConfig> {
        tls_client_config(&self.cert_pem())
    }

    /// An explicit-FTPS control connection (AUTH TLS done) over rustls, not logged in.
    pub fn tls_raw(&self) -> TlsRaw {
        TlsRaw::explicit(self.addr, self.tls_client_config())
    }

    /// An explicit-FTPS control connection logged in as `user`, with PBSZ 0, PROT P, TYPE I.
    pub fn tls_login(&self, user: (&str, &str)) -> TlsRaw {
        let mut c = self.tls_raw();
        c.login(user);
        assert_eq!(c.cmd("PBSZ 0"), "200 PBSZ=0\r\n");
        assert!(c.cmd("PROT P").starts_with("200 "));
        assert!(c.cmd("TYPE I").starts_with("200 "));
        c
    }
}

/// A client config trusting the certificate in `cert_pem` (PEM file).
pub fn tls_client_config(cert_pem: &Path) -> Arc<rustls::ClientConfig> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(cert_pem).expect("read cert.pem") {
        roots.add(cert.expect("parse cert.pem")).expect("add root");
    }
    Arc::new(
        rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

/// Runs a TLS client handshake on `tcp` for `localhost`.
pub fn tls_connect(config: &Arc<rustls::ClientConfig>, tcp: TcpStream) -> TlsStream {
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(Arc::clone(config), name).expect("client conn");
    let mut s = rustls::StreamOwned::new(conn, tcp);
    while s.conn.is_handshaking() {
        s.conn.complete_io(&mut s.sock).expect("TLS handshake");
    }
    s
}

/// A TLS control connection (explicit after `AUTH TLS`, or implicit) that returns replies
/// as the exact text received, and opens protected passive data connections.
pub struct TlsRaw {
    reader: BufReader<TlsStream>,
    config: Arc<rustls::ClientConfig>,
    peer: SocketAddr,
}

impl TlsRaw {
    /// Connects, reads `220`, sends `AUTH TLS`, expects `234`, and runs the handshake.
    pub fn explicit(addr: SocketAddr, config: Arc<rustls::ClientConfig>) -> TlsRaw {
        let mut raw = Raw::connect(addr);
        assert!(raw.reply().starts_with("220 "));
        assert_eq!(raw.cmd("AUTH TLS"), "234 Proceed with negotiation.\r\n");
        TlsRaw::over(raw.writer, config)
    }

    /// Connects to an implicit-TLS port, runs the handshake and reads the `220` greeting.
    pub fn implicit(addr: SocketAddr, config: Arc<rustls::ClientConfig>) -> TlsRaw {
        let tcp = TcpStream::connect(addr).expect("connect");
        tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut c = TlsRaw::over(tcp, config);
        let greeting = c.reply();
        assert!(greeting.starts_with("220 "), "greeting: {greeting}");
        c
    }

    /// Runs the handshake on `tcp` (after `234`, or on an implicit port) and wraps it.
    pub fn over(tcp: TcpStream, config: Arc<rustls::ClientConfig>) -> TlsRaw {
        let peer = tcp.peer_addr().unwrap();
        let stream = tls_connect(&config, tcp);
        TlsRaw {
            reader: BufReader::new(stream),
            config,
            peer,
        }
    }

    pub fn send(&mut self, line: &str) {
        let s = self.reader.get_mut();
        s.write_all(format!("{line}\r\n").as_bytes()).expect("send");
        s.flush().expect("flush");
    }

    /// One whole reply (multi-line included), CRLFs kept.
    pub fn reply(&mut self) -> String {
        let mut out = String::new();
        let mut first = String::new();
        self.reader.read_line(&mut first).expect("read reply");
        out.push_str(&first);
        if first.len() >= 4 && first.as_bytes()[3] == b'-' {
            let code = first[..3].to_owned();
            loop {
                let mut line = String::new();
                if self.reader.read_line(&mut line).expect("read reply") == 0 {
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

    pub fn cmd(&mut self, line: &str) -> String {
        self.send(line);
        self.reply()
    }

    pub fn login(&mut self, user: (&str, &str)) {
        let r = self.cmd(&format!("USER {}", user.0));
        assert!(r.starts_with("331 "), "USER: {r}");
        assert_eq!(
            self.cmd(&format!("PASS {}", user.1)),
            "230 Login successful.\r\n"
        );
    }

    /// `EPSV` and a TCP connection to the announced port (TLS not started yet).
    pub fn epsv(&mut self) -> TcpStream {
        let r = self.cmd("EPSV");
        assert!(r.starts_with("229 "), "EPSV: {r}");
        let port: u16 = r
            .split("|||")
            .nth(1)
            .and_then(|s| s.split('|').next())
            .unwrap()
            .parse()
            .unwrap();
        let s = TcpStream::connect((self.peer.ip(), port)).expect("data connect");
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        s
    }

    /// Runs the TLS handshake on a data connection with this control connection's config
    /// (so it resumes the control session).
    pub fn protect(&self, tcp: TcpStream) -> TlsStream {
        tls_connect(&self.config, tcp)
    }

    /// `verb` over a fresh protected EPSV connection: (150 line, data, final reply).
    pub fn download(&mut self, verb: &str) -> (String, Vec<u8>, String) {
        let tcp = self.epsv();
        let opening = self.cmd(verb);
        if !opening.starts_with("150") {
            return (opening, Vec::new(), String::new());
        }
        let mut data = self.protect(tcp);
        let mut buf = Vec::new();
        // An error (e.g. no close_notify on a refused connection) shows in the reply and in
        // the caller's check of the bytes.
        let _ = data.read_to_end(&mut buf);
        (opening, buf, self.reply())
    }

    /// `verb` sending `body` over a protected EPSV connection, closed with close_notify:
    /// (150 line, final reply).
    pub fn upload(&mut self, verb: &str, body: &[u8]) -> (String, String) {
        let tcp = self.epsv();
        let opening = self.cmd(verb);
        if !opening.starts_with("150") {
            return (opening, String::new());
        }
        let mut data = self.protect(tcp);
        // A refused connection (e.g. 522) breaks the pipe: the reply tells why.
        if data.write_all(body).is_ok() {
            data.conn.send_close_notify();
            let _ = data.flush();
        }
        let _ = data.sock.shutdown(std::net::Shutdown::Write);
        (opening, self.reply())
    }

    pub fn config(&self) -> &Arc<rustls::ClientConfig> {
        &self.config
    }

    /// Sets the control connection's read timeout.
    pub fn set_timeout(&self, timeout: Duration) {
        self.reader
            .get_ref()
            .sock
            .set_read_timeout(Some(timeout))
            .unwrap();
    }
}

/// Runs a Python 3 script (written to a temp file) with `args` under a time limit.
pub fn python(script: &str, args: &[&str], secs: u64) -> Ran {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("script.py");
    std::fs::write(&path, script).unwrap();
    run_with_timeout(
        std::process::Command::new("python3").arg(&path).args(args),
        secs,
    )
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

/// A `ferroftp serve` child process: its stdout lines arrive on a channel, its stderr is
/// collected for failure messages, and Drop kills it so no test leaves a server behind.
pub struct Served {
    pub child: std::process::Child,
    pub lines: std::sync::mpsc::Receiver<String>,
    stderr: Arc<std::sync::Mutex<String>>,
}

impl Served {
    pub fn start(dir: &Path, args: &[&str]) -> Served {
        Served::start_with_env(dir, args, &[])
    }

    /// As [`Served::start`], with extra environment variables (e.g. `RUST_LOG`).
    pub fn start_with_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Served {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ferroftp"))
            .arg("serve")
            .arg("--dir")
            .arg(dir)
            .args(args)
            .envs(env.iter().copied())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn ferroftp serve");
        let (tx, lines) = std::sync::mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(std::sync::Mutex::new(String::new()));
        let sink = stderr.clone();
        let mut err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Served {
            child,
            lines,
            stderr,
        }
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// The next stdout line, waiting at most 15 s.
    pub fn line(&mut self) -> String {
        match self.lines.recv_timeout(Duration::from_secs(15)) {
            Ok(line) => line,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                panic!("no stdout line within 15 s; stderr:\n{}", self.stderr())
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => panic!(
                "serve closed stdout ({:?}); stderr:\n{}",
                self.child.try_wait(),
                self.stderr()
            ),
        }
    }

    /// Reads stdout up to and including the line that starts with `prefix`.
    pub fn lines_until(&mut self, prefix: &str) -> Vec<String> {
        let mut seen = Vec::new();
        for _ in 0..64 {
            let line = self.line();
            let done = line.starts_with(prefix);
            seen.push(line);
            if done {
                return seen;
            }
        }
        panic!("no {prefix:?} line in {seen:?}");
    }

    pub fn sigterm(&self) {
        self.signal(libc::SIGTERM);
    }

    /// SIGKILL, as a crash or power cut would end it; waits for it to be gone.
    pub fn kill9(&mut self) {
        self.signal(libc::SIGKILL);
        let _ = self.child.wait();
    }

    fn signal(&self, signal: libc::c_int) {
        let pid = libc::pid_t::try_from(self.child.id()).unwrap();
        // SAFETY: kill(2) on our own child's pid; no memory is involved.
        let rc = unsafe { libc::kill(pid, signal) };
        assert_eq!(rc, 0, "kill({signal})");
    }

    /// Waits at most `secs` for the process to exit.
    pub fn wait_exit(&mut self, secs: u64) -> std::process::ExitStatus {
        let deadline = std::time::Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "serve still running {secs} s after SIGTERM; stderr:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// `listening on ADDR:PORT` → the address (port not 0).
pub fn listening(line: &str) -> SocketAddr {
    let addr: SocketAddr = line
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("not a listening line: {line:?}"))
        .parse()
        .unwrap_or_else(|e| panic!("{line:?}: {e}"));
    assert_ne!(addr.port(), 0, "{line}");
    addr
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

/// pyftpdlib (an FTP server we did not write) on 127.0.0.1:0 serving `root` to
/// tester/tester-pw with every permission; killed on drop.
pub struct PyFtpd {
    child: std::process::Child,
    pub port: u16,
}

const PYFTPD_PY: &str = r#"
import logging, sys
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer
logging.basicConfig(level=logging.ERROR)
authorizer = DummyAuthorizer()
authorizer.add_user("tester", "tester-pw", sys.argv[1], perm="elradfmwMT")
FTPHandler.authorizer = authorizer
server = FTPServer(("127.0.0.1", 0), FTPHandler)
print(server.address[1], flush=True)
server.serve_forever()
"#;

impl PyFtpd {
    /// The account pyftpdlib serves.
    pub const USER: (&'static str, &'static str) = ("tester", "tester-pw");

    /// Starts it; its script is written into `script_dir`.
    pub fn start(root: &Path, script_dir: &Path) -> PyFtpd {
        use std::process::{Command, Stdio};
        let script = script_dir.join("pyftpd.py");
        std::fs::write(&script, PYFTPD_PY).unwrap();
        let mut child = Command::new("python3")
            .arg(&script)
            .arg(root)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 (the README test command installs pyftpdlib)");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx.recv_timeout(Duration::from_secs(20));
        let mut server = PyFtpd { child, port: 0 };
        server.port = line
            .ok()
            .and_then(|l| l.trim().parse().ok())
            .expect("pyftpdlib printed its port (pip install pyftpdlib)");
        server
    }
}

impl Drop for PyFtpd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
