//! A connection that is plain TCP or TLS (rustls over the same blocking socket), for both the
//! control and the data connections.

use std::io::{self, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::Arc;
use std::time::Instant;

use rustls::{HandshakeKind, ServerConfig, ServerConnection, StreamOwned};

pub enum Stream {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ServerConnection, Socket>>),
}

/// The TCP socket under a TLS stream, with an optional read-ahead buffer. rustls asks for a
/// few KiB of ciphertext at a time; a data connection reads the socket in large gulps instead
/// and feeds rustls from memory (one `recvfrom` per `TRANSFER_BUFFER`, not one per record).
/// A control connection has no buffer (capacity 0: reads go straight to the socket).
pub struct Socket {
    reader: BufReader<TcpStream>,
}

impl Socket {
    fn tcp(&self) -> &TcpStream {
        self.reader.get_ref()
    }

    fn has_buffered(&self) -> bool {
        !self.reader.buffer().is_empty()
    }
}

impl Read for Socket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.reader.read(buf)
    }
}

impl Write for Socket {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.reader.get_mut().write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.reader.get_mut().flush()
    }
}

impl Stream {
    /// Runs a server-side TLS handshake on `tcp` until done or `deadline`. The socket's read
    /// timeout sets how often the deadline is checked. Afterwards the socket is read
    /// `read_ahead` bytes at a time (0: as rustls asks).
    pub fn accept_tls(
        mut tcp: TcpStream,
        config: Arc<ServerConfig>,
        deadline: Instant,
        read_ahead: usize,
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
        let sock = Socket {
            reader: BufReader::with_capacity(read_ahead, tcp),
        };
        Ok(Stream::Tls(Box::new(StreamOwned::new(conn, sock))))
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
            Stream::Tls(s) => s.sock.tcp(),
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
    /// bytes, or the peer's close_notify (then `read` gives the clean EOF). Ciphertext already
    /// in the read-ahead buffer is handed to rustls first.
    pub fn plaintext_pending(&mut self) -> bool {
        let Stream::Tls(s) = self else {
            return false;
        };
        // Bounded: each round moves buffered ciphertext into rustls, or returns.
        loop {
            match s.conn.process_new_packets() {
                // The error surfaces from the next `read`.
                Err(_) => return true,
                Ok(st) if st.plaintext_bytes_to_read() > 0 || st.peer_has_closed() => return true,
                Ok(_) => {}
            }
            if !s.sock.has_buffered() {
                return false;
            }
            if s.conn.read_tls(&mut s.sock).is_err() {
                return true;
            }
        }
    }

    /// Reads into `buf` once (blocking as the socket does), then goes on while more plaintext
    /// is at hand without waiting: a TLS upload fills a whole buffer per file write instead of
    /// one record (16 KiB).
    pub fn read_burst(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut filled = self.read(buf)?;
        while filled > 0 && filled < buf.len() && self.is_tls() && self.plaintext_pending() {
            match self.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                // The bytes so far are good; the error comes back from the next call.
                Err(_) => break,
            }
        }
        Ok(filled)
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
