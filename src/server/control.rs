//! The control connection: bounded line reads that wake up every `CONTROL_POLL` so the session
//! can check its timers, reply writes, and the switch to TLS.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::ServerConfig;

use crate::limits::{CONTROL_POLL, MAX_COMMAND_LINE};
use crate::protocol::Reply;
use crate::server::net;
use crate::server::stream::Stream;

/// What one read attempt produced.
#[derive(Debug, PartialEq, Eq)]
pub enum Incoming {
    /// A full line is in the caller's buffer (CR/LF removed).
    Line,
    /// A line over `MAX_COMMAND_LINE` was read and thrown away.
    TooLong,
    /// No complete line within `CONTROL_POLL` (bytes of an unfinished one may have come).
    Idle,
    /// The peer closed the connection.
    Closed,
}

/// What a control connection's input buffer starts with (an idle session's memory).
const INITIAL_BUFFER: usize = 512;

/// Replies to a client that reads nothing must not block a worker forever.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

pub struct ControlStream {
    stream: Stream,
    /// Received bytes not yet taken as lines: starts small, grows to `MAX_COMMAND_LINE` only
    /// for a long line (most sessions never need more than `INITIAL_BUFFER`).
    buf: Vec<u8>,
    len: usize,
    discarding: bool,
    /// When the first byte of the unfinished line in `buf` arrived.
    line_started: Option<Instant>,
    out: Vec<u8>,
    /// The client: the socket's peer, or the one a trusted proxy's PROXY header named.
    pub peer: SocketAddr,
    pub local: SocketAddr,
    /// The proxy this connection came through, if any.
    pub via_proxy: Option<SocketAddr>,
}

impl ControlStream {
    pub fn new(stream: TcpStream) -> io::Result<ControlStream> {
        net::tune_control(&stream)?;
        stream.set_read_timeout(Some(CONTROL_POLL))?;
        stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
        let peer = stream.peer_addr()?;
        let local = stream.local_addr()?;
        Ok(ControlStream {
            stream: Stream::Plain(stream),
            buf: vec![0u8; INITIAL_BUFFER],
            len: 0,
            discarding: false,
            line_started: None,
            out: Vec::with_capacity(256),
            peer,
            local,
            via_proxy: None,
        })
    }

    /// Reads until a full line is in `line`, the line proves too long, `CONTROL_POLL` passes,
    /// or the peer closes. Partial input is kept for the next call.
    ///
    /// SECURITY: the poll period is a deadline, not a quiet period: a peer dripping one byte
    /// at a time still gets `Idle` back every `CONTROL_POLL`, so the session's timers run.
    pub fn read_line(&mut self, line: &mut Vec<u8>) -> io::Result<Incoming> {
        line.clear();
        let wake_at = Instant::now() + CONTROL_POLL;
        loop {
            if let Some(found) = self.take_line(line) {
                return Ok(found);
            }
            if Instant::now() >= wake_at {
                return Ok(Incoming::Idle);
            }
            match self.stream.read(&mut self.buf[self.len..]) {
                Ok(0) => return Ok(Incoming::Closed),
                Ok(n) => {
                    if self.len == 0 && !self.discarding {
                        self.line_started = Some(Instant::now());
                    }
                    self.len += n;
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return Ok(Incoming::Idle);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Moves the first complete buffered line into `line` (or reports it too long); `None`
    /// when no newline is buffered yet.
    fn take_line(&mut self, line: &mut Vec<u8>) -> Option<Incoming> {
        let Some(pos) = self.buf[..self.len].iter().position(|&b| b == b'\n') else {
            if self.len == self.buf.len() && self.buf.len() < MAX_COMMAND_LINE {
                let grown = (self.buf.len() * 2).min(MAX_COMMAND_LINE);
                self.buf.resize(grown, 0);
                return None;
            }
            if self.len == self.buf.len() {
                // SECURITY: an endless line must not grow memory; drop it and answer 500 at
                // its end. Its clock keeps running: line_timeout still applies.
                self.discarding = true;
                self.len = 0;
            }
            return None;
        };
        let discarded = std::mem::take(&mut self.discarding);
        if !discarded {
            let end = if pos > 0 && self.buf[pos - 1] == b'\r' {
                pos - 1
            } else {
                pos
            };
            line.extend_from_slice(&self.buf[..end]);
        }
        self.buf.copy_within(pos + 1..self.len, 0);
        self.len -= pos + 1;
        self.line_started = (self.len > 0).then(Instant::now);
        Some(if discarded {
            Incoming::TooLong
        } else {
            Incoming::Line
        })
    }

    /// How long the unfinished line being received has taken so far.
    pub fn partial_line_age(&self) -> Option<Duration> {
        self.line_started.map(|t| t.elapsed())
    }

    /// True if a command is waiting (buffered or on the socket) — used to spot ABOR mid-transfer.
    pub fn input_pending(&mut self) -> bool {
        self.has_buffered_input()
            || net::wait_readable(self.stream.fd(), Duration::ZERO).unwrap_or(false)
    }

    /// True if the client sent anything after the line just read (checked before AUTH TLS).
    pub fn has_buffered_input(&mut self) -> bool {
        self.len > 0 || self.stream.plaintext_pending()
    }

    pub fn is_tls(&self) -> bool {
        self.stream.is_tls()
    }

    /// Switches the connection to TLS (after `234`, or at once on the implicit-TLS port).
    pub fn upgrade_tls(&mut self, config: Arc<ServerConfig>, deadline: Instant) -> io::Result<()> {
        let tcp = match &self.stream {
            Stream::Plain(tcp) => tcp.try_clone()?,
            Stream::Tls(_) => return Err(io::Error::other("already TLS")),
        };
        self.stream = Stream::accept_tls(tcp, config, deadline, 0)?;
        Ok(())
    }

    /// True if the peer has closed its side (EOF waiting, nothing buffered). A data-connection
    /// EOF alone cannot tell a finished upload from a client that died mid-way; this can.
    pub fn peer_closed(&self) -> bool {
        if self.len > 0 || !net::wait_readable(self.stream.fd(), Duration::ZERO).unwrap_or(false) {
            return false;
        }
        let mut probe = [0u8; 1];
        match self.stream.tcp().peek(&mut probe) {
            Ok(0) => true,
            Err(e) => e.kind() == io::ErrorKind::ConnectionReset,
            Ok(_) => false,
        }
    }

    pub fn send(&mut self, reply: &Reply) -> io::Result<()> {
        self.out.clear();
        reply.encode(&mut self.out);
        self.stream.write_all(&self.out)?;
        self.stream.flush()?;
        log::trace!(
            "{} <- {}",
            self.peer,
            String::from_utf8_lossy(&self.out).trim_end()
        );
        Ok(())
    }

    /// The TCP socket under the (possibly TLS) stream.
    pub fn tcp(&self) -> &TcpStream {
        self.stream.tcp()
    }

    pub fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.stream.fd()
    }
}
