//! A connection that is plain TCP or TLS (rustls over the same blocking socket), for both the
//! control and the data connections.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::Arc;
use std::time::Instant;

use rustls::{HandshakeKind, ServerConfig, ServerConnection, StreamOwned};

pub enum Stream {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ServerConnection, TcpStream>>),
}

impl Stream {
    /// Runs a server-side TLS handshake on `tcp` until done or `deadline`. The socket's read
    /// timeout sets how often the deadline is checked.
    pub fn accept_tls(
        mut tcp: TcpStream,
        config: Arc<ServerConfig>,
        deadline: Instant,
    ) -> io::Result<Stream> {
        let mut conn = ServerConnection::new(config).map_err(io::Error::other)?;
        while conn.is_handshaking() {
            if Instant::now() >= deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "TLS handshake timed out",
                ));
            }
            match conn.complete_io(&mut tcp) {
                Ok((0, 0)) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "peer closed during the TLS handshake",
                    ));
                }
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(Stream::Tls(Box::new(StreamOwned::new(conn, tcp))))
    }

    /// Lets a large write become one TLS flush: rustls otherwise caps its send buffer at
    /// 64 KiB and splits each transfer chunk into several writes. The transfer loops write
    /// bounded chunks, so memory stays bounded.
    pub fn unbuffered_writes(&mut self) {
        if let Stream::Tls(s) = self {
            s.conn.set_buffer_limit(None);
        }
    }

    pub fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => &s.sock,
        }
    }

    pub fn is_tls(&self) -> bool {
        matches!(self, Stream::Tls(_))
    }

    /// True if the TLS handshake resumed an earlier session.
    pub fn resumed(&self) -> bool {
        match self {
            Stream::Plain(_) => false,
            Stream::Tls(s) => s.conn.handshake_kind() == Some(HandshakeKind::Resumed),
        }
    }

    /// True when a `read` would return without touching the socket: rustls holds decrypted
    /// bytes, or the peer's close_notify (then `read` gives the clean EOF).
    pub fn plaintext_pending(&mut self) -> bool {
        match self {
            Stream::Plain(_) => false,
            Stream::Tls(s) => s
                .conn
                .process_new_packets()
                .is_ok_and(|st| st.plaintext_bytes_to_read() > 0 || st.peer_has_closed()),
        }
    }

    /// Ends the stream cleanly: TLS close_notify, then FIN.
    pub fn finish(mut self) {
        if let Stream::Tls(s) = &mut self {
            s.conn.send_close_notify();
            let _ = s.conn.complete_io(&mut s.sock);
        }
        let _ = self.tcp().shutdown(std::net::Shutdown::Write);
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.tcp().as_fd()
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}
