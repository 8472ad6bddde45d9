//! Opening a connection: name resolution, TCP with a bounded wait, the greeting, TLS
//! (explicit `AUTH TLS` or implicit) with the pinning verifier, and passive data connections
//! kept to the server's own address.

use std::io;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use rustls::ClientConfig;
use suppaftp::{FtpError, Mode, RustlsConnector, RustlsFtpStream};

use super::{Connection, Ctx, DATA_TIMEOUT, DataMode, Endpoint, Error, REPLY_TIMEOUT, Security};
use crate::client::trust::{PinningVerifier, TrustPolicy};

/// The rustls client config for one connection: our provider (ring), TLS 1.2 and 1.3, the
/// pinning verifier, and rustls' in-memory session cache. suppaftp reuses this config for
/// every data connection, so data connections resume the control connection's session.
fn tls_config(verifier: Arc<PinningVerifier>) -> Result<Arc<ClientConfig>, Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(TLS_VERSIONS)
        .map_err(|e| Error::Invalid(format!("TLS setup: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// TLS 1.2 only. SECURITY/interoperability: servers that bind data connections to the
/// control session (ours, vsftpd `require_ssl_reuse`) need every data connection to resume
/// it. rustls uses a TLS 1.3 ticket at most once and such servers send no new tickets on
/// data connections, so after a couple of transfers a TLS 1.3 client would have nothing
/// left to resume with; a TLS 1.2 session id can be resumed any number of times. TLS 1.2
/// with rustls' suites (ECDHE, AEAD only) keeps forward secrecy.
const TLS_VERSIONS: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS12];

fn resolve(endpoint: &Endpoint) -> Result<Vec<SocketAddr>, Error> {
    let addrs: Vec<SocketAddr> = (endpoint.host.as_str(), endpoint.port)
        .to_socket_addrs()
        .map_err(|reason| Error::Resolve {
            host: endpoint.host.clone(),
            reason,
        })?
        .collect();
    if addrs.is_empty() {
        return Err(Error::Resolve {
            host: endpoint.host.clone(),
            reason: io::Error::new(io::ErrorKind::NotFound, "no address"),
        });
    }
    Ok(addrs)
}

/// TCP to the first address that answers within `timeout` each.
fn connect_tcp(
    endpoint: &Endpoint,
    addrs: &[SocketAddr],
    timeout: Duration,
) -> Result<TcpStream, Error> {
    let mut last = None;
    for addr in addrs {
        match TcpStream::connect_timeout(addr, timeout) {
            Ok(s) => return Ok(s),
            Err(e) => last = Some(e),
        }
    }
    let reason = last.unwrap_or_else(|| io::Error::from(io::ErrorKind::NotFound));
    if matches!(
        reason.kind(),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
    ) {
        return Err(Error::Timeout {
            endpoint: endpoint.to_string(),
            secs: timeout.as_secs(),
        });
    }
    Err(Error::Connect {
        endpoint: endpoint.to_string(),
        reason,
    })
}

fn set_timeouts(s: &TcpStream, timeout: Duration) -> io::Result<()> {
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))
}

/// A greeting that does not come within the connect timeout is a timeout, not "lost".
fn greeting_error(endpoint: &Endpoint, timeout: Duration, e: Error) -> Error {
    match e {
        Error::Io(io) if io.kind() == io::ErrorKind::TimedOut => Error::Timeout {
            endpoint: endpoint.to_string(),
            secs: timeout.as_secs(),
        },
        other => other,
    }
}

/// Implicit TLS. suppaftp opens that socket itself, with no connect timeout: run it on a
/// helper thread and stop waiting after `timeout`. A thread left behind ends with the OS
/// connect timeout; nothing waits for it.
fn connect_implicit(
    ctx: &Ctx<'_>,
    addr: std::net::SocketAddr,
    connector: RustlsConnector,
    domain: String,
    timeout: Duration,
) -> Result<RustlsFtpStream, Error> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(RustlsFtpStream::connect_secure_implicit(
            addr, connector, &domain,
        ));
    });
    match rx.recv_timeout(timeout) {
        Ok(result) => result.map_err(|e| ctx.error(e)),
        Err(_) => Err(Error::Timeout {
            endpoint: ctx.endpoint.to_string(),
            secs: timeout.as_secs(),
        }),
    }
}

/// Active mode's wait, and passive data connections opened to the control connection's peer.
fn data_to_server_only(
    ftp: RustlsFtpStream,
    connect_timeout: Duration,
) -> Result<RustlsFtpStream, Error> {
    let peer_ip = ftp.get_ref().peer_addr().map_err(Error::Io)?.ip();
    Ok(ftp
        .active_mode(DATA_TIMEOUT)
        .passive_stream_builder(move |addr| {
            // SECURITY: data connections go to the server we are talking to, whatever
            // address a PASV reply names (as curl's --ftp-skip-pasv-ip): a hostile server
            // must not make us connect elsewhere (for the web client, an SSRF around
            // web_allowed_servers).
            let addr = std::net::SocketAddr::new(peer_ip, addr.port());
            let s = TcpStream::connect_timeout(&addr, connect_timeout)
                .map_err(FtpError::ConnectionError)?;
            set_timeouts(&s, DATA_TIMEOUT).map_err(FtpError::ConnectionError)?;
            Ok(s)
        }))
}

impl Connection {
    /// Connects, reads the greeting and, for TLS, completes the handshake (checking the
    /// certificate against `trust`) and `PBSZ 0` / `PROT P`. Not logged in yet.
    pub fn connect(
        endpoint: &Endpoint,
        security: Security,
        trust: TrustPolicy,
        timeout: Duration,
    ) -> Result<Connection, Error> {
        let addrs = resolve(endpoint)?;
        let verifier = PinningVerifier::new(trust);
        let ctx = Ctx {
            endpoint,
            verifier: Some(&verifier),
        };
        let domain = endpoint.host.clone();
        let ftp = match security {
            Security::None | Security::Explicit => {
                let tcp = connect_tcp(endpoint, &addrs, timeout)?;
                set_timeouts(&tcp, timeout).map_err(Error::Io)?;
                let ftp = RustlsFtpStream::connect_with_stream(tcp)
                    .map_err(|e| greeting_error(endpoint, timeout, ctx.error(e)))?;
                if security == Security::Explicit {
                    let connector = RustlsConnector::from(tls_config(verifier.clone())?);
                    ftp.into_secure(connector, &domain)
                        .map_err(|e| greeting_error(endpoint, timeout, ctx.error(e)))?
                } else {
                    ftp
                }
            }
            Security::Implicit => {
                let connector = RustlsConnector::from(tls_config(verifier.clone())?);
                connect_implicit(&ctx, addrs[0], connector, domain, timeout)?
            }
        };
        set_timeouts(&ftp.get_ref(), REPLY_TIMEOUT).map_err(Error::Io)?;
        let mut ftp = data_to_server_only(ftp, timeout)?;
        ftp.set_mode(Mode::ExtendedPassive);
        Ok(Connection {
            ftp,
            endpoint: endpoint.clone(),
            security,
            mode: DataMode::Passive,
            epsv_refused: false,
            ascii: false,
        })
    }
}
