//! FTPS test helpers: a server with an implicit-TLS listener, rustls client configs trusting
//! its certificate, and `TlsRaw`, the protected twin of `Raw`.

use std::io::{BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ferroftp::config::Settings;

use super::{Raw, TestServer, epsv_port, read_reply};

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
        read_reply(&mut self.reader)
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
        let port = epsv_port(&self.cmd("EPSV"));
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
