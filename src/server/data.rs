//! Data connections: passive listeners in `--pasv-ports`, active connects for PORT/EPRT, the
//! peer-address checks that stop FTP bounce and data-connection theft, and a session's
//! opening of the connection for a transfer (150, then TLS under PROT P).

use std::io;
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::ops::RangeInclusive;
use std::os::fd::AsFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use socket2::{Domain, Socket, Type};

use crate::limits::{CONTROL_POLL, DATA_STALL_TIMEOUT, PASV_BIND_ATTEMPTS, TRANSFER_BUFFER};
use crate::protocol::address::canonical;
use crate::protocol::{Reply, codes};
use crate::server::net;
use crate::server::session::{Session, SessionError};
use crate::server::stream::Stream;
use crate::server::xferlog::Direction;

/// How the next transfer's data connection will be made.
#[derive(Default)]
pub enum DataPlan {
    #[default]
    None,
    Passive(TcpListener),
    Active(SocketAddr),
    /// A passive connection from the control peer, accepted before its transfer command.
    Accepted(TcpStream),
    /// ... and protected already: the TLS stream, or the reply its transfer gets (522, 425).
    Protected(Result<Stream, Reply>),
}

#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("no PORT or PASV given")]
    NoPlan,
    #[error("data connection not opened in time")]
    Timeout,
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// Binds a passive listener on the control connection's local address, on a port from
/// `range` when one is configured.
pub fn listen_passive(
    local_ip: IpAddr,
    range: Option<&RangeInclusive<u16>>,
) -> io::Result<TcpListener> {
    let listener = match range {
        None => TcpListener::bind((local_ip, 0))?,
        Some(range) => bind_in_range(local_ip, range)?,
    };
    listener.set_nonblocking(true)?;
    Ok(listener)
}

fn bind_in_range(ip: IpAddr, range: &RangeInclusive<u16>) -> io::Result<TcpListener> {
    let (lo, hi) = (*range.start(), *range.end());
    let span = u32::from(hi - lo) + 1;
    let mut seed = [0u8; 4];
    getrandom::fill(&mut seed).map_err(|e| io::Error::other(e.to_string()))?;
    let start = u32::from_le_bytes(seed) % span;
    let attempts = span.min(PASV_BIND_ATTEMPTS as u32);
    for i in 0..attempts {
        let port = lo + ((start + i) % span) as u16;
        match TcpListener::bind((ip, port)) {
            Ok(l) => return Ok(l),
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AddrInUse,
        "no free port in the passive range",
    ))
}

/// Accepts a waiting connection from `control_peer` (others are refused and logged); `None`
/// when nothing from it is waiting.
pub fn accept_waiting(
    listener: &TcpListener,
    control_peer: IpAddr,
) -> io::Result<Option<TcpStream>> {
    loop {
        match listener.accept() {
            Ok((stream, from)) => {
                // SECURITY: only the control peer may take the data connection (no theft).
                if canonical(from.ip()) == canonical(control_peer) {
                    return ready(stream).map(Some);
                }
                log::warn!("refused data connection from {from}: control peer is {control_peer}");
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// A data socket as transfers use it: blocking, with stall timeouts.
pub fn ready(stream: TcpStream) -> io::Result<TcpStream> {
    // Linux's accept never passes the listener's O_NONBLOCK on (and connect_timeout ends
    // blocking); other systems' accept does.
    #[cfg(not(target_os = "linux"))]
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(DATA_STALL_TIMEOUT))?;
    stream.set_write_timeout(Some(DATA_STALL_TIMEOUT))?;
    Ok(stream)
}

/// Opens the data connection for one transfer.
pub fn establish(
    plan: DataPlan,
    control_peer: IpAddr,
    local_ip: IpAddr,
    timeout: Duration,
) -> Result<TcpStream, DataError> {
    let stream = match plan {
        DataPlan::None | DataPlan::Protected(_) => return Err(DataError::NoPlan),
        DataPlan::Passive(listener) => accept_from(&listener, control_peer, timeout)?,
        DataPlan::Active(addr) => connect_to(addr, local_ip, timeout)?,
        DataPlan::Accepted(stream) => stream,
    };
    Ok(ready(stream)?)
}

fn accept_from(
    listener: &TcpListener,
    control_peer: IpAddr,
    timeout: Duration,
) -> Result<TcpStream, DataError> {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || !net::wait_readable(listener.as_fd(), left)? {
            return Err(DataError::Timeout);
        }
        match listener.accept() {
            Ok((stream, from)) => {
                // SECURITY: only the control peer may take the data connection (no theft).
                if canonical(from.ip()) == canonical(control_peer) {
                    return Ok(stream);
                }
                log::warn!("refused data connection from {from}: control peer is {control_peer}");
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e.into()),
        }
    }
}

fn connect_to(
    addr: SocketAddr,
    local_ip: IpAddr,
    timeout: Duration,
) -> Result<TcpStream, DataError> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    // Connect from the address the client reached us on, so firewalls see one host.
    if Domain::for_address(SocketAddr::new(local_ip, 0)) == Domain::for_address(addr) {
        socket.bind(&SocketAddr::new(local_ip, 0).into())?;
    }
    socket.connect_timeout(&addr.into(), timeout).map_err(|e| {
        if e.kind() == io::ErrorKind::TimedOut || e.kind() == io::ErrorKind::WouldBlock {
            DataError::Timeout
        } else {
            DataError::Io(e)
        }
    })?;
    Ok(socket.into())
}

/// SECURITY: PORT/EPRT may only point back at the control peer, on an unprivileged port, or
/// the server becomes a port scanner / bounce relay (RFC 2577).
pub fn active_target_allowed(target: SocketAddr, control_peer: IpAddr) -> bool {
    canonical(target.ip()) == canonical(control_peer) && target.port() >= 1024
}

impl Session<'_> {
    /// Sends `150 <opening>` and opens the data connection (TLS under PROT P, resuming this
    /// control connection's session); `425` (without 150) when the client set none up.
    pub(super) fn open_data(
        &mut self,
        opening: &str,
        direction: Direction,
    ) -> Result<Stream, SessionError> {
        if self.shared.settings.require_tls && !self.protect_data {
            return Err(SessionError::Reply(Reply::new(
                codes::PROTECTION_REQUIRED,
                "Data connections must be protected: use PROT P.",
            )));
        }
        let plan = std::mem::take(&mut self.data_plan);
        if matches!(plan, DataPlan::None) {
            return Err(SessionError::Reply(Reply::new(
                codes::CANT_OPEN_DATA,
                "Use PORT or PASV first.",
            )));
        }
        self.control
            .send(&Reply::new(codes::OPENING_DATA, opening.to_owned()))?;
        // Protected while the session waited for this command (see `early_data`).
        if let DataPlan::Protected(stream) = plan {
            return stream.map_err(SessionError::Reply);
        }
        let timeout = self.shared.settings.data_timeout;
        let tcp = match establish(
            plan,
            self.control.peer.ip(),
            self.control.local.ip(),
            timeout,
        ) {
            Ok(s) => s,
            Err(e) => {
                log::info!("data connection for {} failed: {e}", self.control.peer);
                let text = match e {
                    DataError::Timeout => "Data connection not opened in time.",
                    _ => "Failed to establish connection.",
                };
                return Err(SessionError::Reply(Reply::new(codes::CANT_OPEN_DATA, text)));
            }
        };
        match (&self.tls, self.protect_data) {
            (Some(configs), true) => {
                let config = match direction {
                    Direction::Incoming => configs.upload.clone(),
                    Direction::Outgoing => configs.download.clone(),
                };
                self.protect(tcp, config).map_err(SessionError::Reply)
            }
            _ => Ok(Stream::Plain(tcp)),
        }
    }

    /// TLS on a data connection. SECURITY: unless `tls_session_reuse = false`, the handshake
    /// must resume this control connection's session (the data config shares only this
    /// session's cache), so a stranger who races to the passive port cannot take the data.
    pub(super) fn protect(
        &self,
        tcp: TcpStream,
        config: Arc<rustls::ServerConfig>,
    ) -> Result<Stream, Reply> {
        let failed = |e: std::io::Error| {
            log::info!(
                "TLS on the data connection of {} failed: {e}",
                self.control.peer
            );
            Reply::new(
                codes::CANT_OPEN_DATA,
                "TLS handshake on the data connection failed.",
            )
        };
        tcp.set_read_timeout(Some(CONTROL_POLL)).map_err(failed)?;
        let deadline = Instant::now() + self.shared.settings.data_timeout;
        let mut stream =
            Stream::accept_tls(tcp, config, deadline, TRANSFER_BUFFER).map_err(failed)?;
        // An upload connection gets nothing from us after the handshake (no tickets), so the
        // client's Finished would wait for the 40 ms delayed ACK, and a client with Nagle on
        // holds its first data until then: acknowledge at once.
        let _ = socket2::SockRef::from(stream.tcp()).set_tcp_quickack(true);
        stream.unbuffered_writes();
        stream
            .tcp()
            .set_read_timeout(Some(DATA_STALL_TIMEOUT))
            .map_err(failed)?;
        if self.shared.settings.tls_session_reuse && !stream.resumed() {
            // Close cleanly (close_notify) so the client reads the 522 rather than a TLS error.
            stream.finish();
            log::warn!(
                "{}: data connection did not resume the control TLS session; refused",
                self.control.peer
            );
            return Err(Reply::new(
                codes::BAD_NETWORK_PROTOCOL,
                "TLS session of the data connection must resume the control connection's session.",
            ));
        }
        Ok(stream)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounce_rules() {
        let peer: IpAddr = "127.0.0.1".parse().unwrap();
        assert!(active_target_allowed(
            "127.0.0.1:2000".parse().unwrap(),
            peer
        ));
        assert!(!active_target_allowed(
            "127.0.0.1:25".parse().unwrap(),
            peer
        ));
        assert!(!active_target_allowed(
            "127.0.0.2:2000".parse().unwrap(),
            peer
        ));
        assert!(active_target_allowed(
            "[::ffff:127.0.0.1]:2000".parse().unwrap(),
            peer
        ));
    }

    #[test]
    fn passive_range_is_respected() {
        let l = listen_passive("127.0.0.1".parse().unwrap(), Some(&(40000..=40100))).unwrap();
        let port = l.local_addr().unwrap().port();
        assert!((40000..=40100).contains(&port));
    }
}
