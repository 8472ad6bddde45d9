//! A download's data connection read while the control connection is watched: a server that
//! gives up on a transfer (`426`) but leaves the data connection open would otherwise keep the
//! client waiting for bytes that never come.

use std::io::{self, Read};
use std::net::TcpStream;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use crate::server::net::wait_either;

/// How long the data connection may stay silent once a reply waits on the control
/// connection: a server closes the data connection before its `226`, but over a network the
/// reply can overtake the last data segments.
const REPLY_GRACE: Duration = Duration::from_secs(3);
/// How long one read of the data connection waits before the control connection is checked.
const POLL: Duration = Duration::from_millis(500);

/// Reads `inner` (the data connection `data`) until it ends, or fails once the server has
/// answered on `control` and the data connection stayed silent for `REPLY_GRACE`.
pub struct Watched<'a, R> {
    inner: &'a mut R,
    data: TcpStream,
    control: TcpStream,
    reply_seen: Option<Instant>,
}

impl<'a, R: Read> Watched<'a, R> {
    /// `data` and `control` are handles on the two sockets (clones), used only to poll.
    pub fn new(inner: &'a mut R, data: TcpStream, control: TcpStream) -> Watched<'a, R> {
        Watched {
            inner,
            data,
            control,
            reply_seen: None,
        }
    }
}

impl<R: Read> Read for Watched<'_, R> {
    /// Reads with a short socket timeout (not a readiness poll: a TLS data connection must
    /// be read to run its handshake before any data can arrive), and looks at the control
    /// connection whenever the data connection is quiet.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.data.set_read_timeout(Some(POLL))?;
        loop {
            match self.inner.read(buf) {
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) => {}
                other => return other,
            }
            let (_, control_ready) =
                wait_either(self.data.as_fd(), self.control.as_fd(), Duration::ZERO)?;
            if control_ready {
                let since = *self.reply_seen.get_or_insert_with(Instant::now);
                if since.elapsed() >= REPLY_GRACE {
                    return Err(io::Error::new(
                        io::ErrorKind::ConnectionAborted,
                        "the server answered before the data connection ended",
                    ));
                }
            }
        }
    }
}
