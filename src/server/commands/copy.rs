//! The loops that move a transfer's bytes: sendfile(2) for plain downloads, a buffer for TLS
//! and ASCII, splice(2) or a buffer for uploads. Each looks at the control connection while
//! data flows, so ABOR, a ban or the shutdown deadline stop it between chunks; a user with a
//! rate moves smaller chunks and waits between them (`pace`).

use std::fs::File;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::fd::AsFd;
use std::time::Instant;

use crate::limits::{
    CONTROL_POLL, DATA_STALL_TIMEOUT, QUOTA_DRAIN, SENDFILE_CHUNK, SPLICE_AFTER, TRANSFER_BUFFER,
};
use crate::protocol::ascii::{FromNetwork, ToNetwork};
use crate::protocol::{Command, Reply, TransferType, codes};
use crate::server::control::Incoming;
use crate::server::net;
use crate::server::session::Session;
use crate::server::splice::{SpliceError, SplicePipe};
use crate::server::stream::Stream;
use crate::storage::{self, Upload};

/// How a transfer ended.
pub(super) enum Outcome {
    Complete(u64),
    /// The client sent ABOR: answer 426 for the transfer, then 226 for the ABOR.
    Aborted(u64),
    Failed(u64, Reply),
    /// The control connection closed mid-transfer: the session ends.
    ControlLost(u64),
    /// The account was banned or deleted mid-transfer: 426, then this reply, then close.
    Revoked(u64, Reply),
}

impl Outcome {
    pub(super) fn bytes(&self) -> u64 {
        match self {
            Outcome::Complete(n)
            | Outcome::Aborted(n)
            | Outcome::Failed(n, _)
            | Outcome::ControlLost(n)
            | Outcome::Revoked(n, _) => *n,
        }
    }
}

pub(super) fn stalled_reply() -> Reply {
    Reply::new(
        codes::TRANSFER_ABORTED,
        "Data connection stalled; transfer aborted.",
    )
}

pub(super) fn aborted_reply() -> Reply {
    Reply::new(
        codes::TRANSFER_ABORTED,
        "Connection closed; transfer aborted.",
    )
}

/// Where an upload's bytes go on their way to the file: through a buffer (converting line
/// ends for ASCII), or, for a plain binary STOR past its first `SPLICE_AFTER` bytes, spliced
/// from the socket to the file with no userspace copy. Small uploads never pay for the pipe.
struct Intake {
    buf: Vec<u8>,
    /// The most one read takes (less than the buffer when the upload is paced).
    piece: usize,
    ascii: Option<(FromNetwork, Vec<u8>)>,
    splice: Splicing,
}

enum Splicing {
    /// TLS, ASCII or APPE (splice cannot write to an O_APPEND file), or no pipe to be had.
    Never,
    Later,
    Ready(SplicePipe),
}

/// Which side of an upload failed.
enum TakeError {
    Network(io::Error),
    File(io::Error),
}

impl Intake {
    /// `piece`: the paced chunk size, if the upload is paced (then never spliced: a pipe
    /// gulps more than one piece).
    fn for_upload(
        stream: &Stream,
        upload: &Upload,
        kind: TransferType,
        piece: Option<usize>,
    ) -> Intake {
        let plain_binary = !stream.is_tls()
            && kind == TransferType::Image
            && upload.file().is_some()
            && !upload.is_append()
            && piece.is_none();
        Intake {
            buf: vec![0u8; TRANSFER_BUFFER],
            piece: piece.unwrap_or(TRANSFER_BUFFER).min(TRANSFER_BUFFER),
            ascii: (kind == TransferType::Ascii).then(|| (FromNetwork::default(), Vec::new())),
            splice: if plain_binary {
                Splicing::Later
            } else {
                Splicing::Never
            },
        }
    }

    /// Moves what the data connection has to the file: (bytes received, 0 at its end; bytes
    /// written to the file, fewer for ASCII); `so_far` counts the bytes received before.
    fn take(
        &mut self,
        stream: &mut Stream,
        upload: &mut Upload,
        so_far: u64,
    ) -> Result<(usize, usize), TakeError> {
        if matches!(self.splice, Splicing::Later) && so_far >= SPLICE_AFTER {
            self.splice = match SplicePipe::new(TRANSFER_BUFFER) {
                Ok(pipe) => Splicing::Ready(pipe),
                Err(e) => {
                    log::warn!("no pipe for splice ({e}); the upload goes on through a buffer");
                    Splicing::Never
                }
            };
        }
        if let Splicing::Ready(pipe) = &self.splice
            && let Some(file) = upload.file()
        {
            return pipe
                .socket_to_file(stream.fd(), file.as_fd())
                .map(|n| (n, n))
                .map_err(|e| match e {
                    SpliceError::Socket(e) => TakeError::Network(e),
                    SpliceError::File(e) => TakeError::File(e),
                });
        }
        let n = stream
            .read_burst(&mut self.buf[..self.piece])
            .map_err(TakeError::Network)?;
        let chunk = match &mut self.ascii {
            Some((conv, converted)) => {
                conv.convert(&self.buf[..n], converted);
                &converted[..]
            }
            None => &self.buf[..n],
        };
        upload.write_all(chunk).map_err(TakeError::File)?;
        Ok((n, chunk.len()))
    }

    /// After the last byte: an ASCII upload's held-back CR.
    fn finish(&mut self, upload: &mut Upload) -> io::Result<()> {
        if let Some((conv, converted)) = &mut self.ascii {
            conv.finish(converted);
            upload.write_all(converted)?;
        }
        Ok(())
    }
}

impl Session<'_> {
    /// Binary download of a file opened at `offset`. Plain TCP: sendfile(2), looking at the
    /// control connection between calls, so ABOR is answered even while the client reads
    /// nothing. TLS: large buffered writes.
    pub(super) fn send_file(
        &mut self,
        stream: &mut Stream,
        mut file: &File,
        offset: u64,
        len: u64,
    ) -> Outcome {
        let Stream::Plain(tcp) = stream else {
            return self.copy_buffered(stream, &mut file, None);
        };
        // A blocking sendfile keeps the socket buffer full without extra wakeups; the short
        // send timeout bounds how long it blocks when the client stops reading, so the
        // control connection is still looked at (ABOR) at least once per `CONTROL_POLL`.
        if let Err(e) = tcp.set_write_timeout(Some(CONTROL_POLL)) {
            return self.data_failure(0, &e);
        }
        // The socket is only closed after this, so the short timeout stays.
        self.sendfile_loop(tcp, file, offset, len)
    }

    /// Sends `file[offset..len]`: the length announced in the 150 reply (a file that shrinks
    /// meanwhile ends the transfer early, one that grows is sent as it was).
    fn sendfile_loop(&mut self, tcp: &TcpStream, file: &File, offset: u64, len: u64) -> Outcome {
        let mut position = offset;
        let mut last_progress = Instant::now();
        let piece = self.piece().map_or(SENDFILE_CHUNK, |p| p as u64);
        while position < len {
            if let Some(stop) = self.interruption(position - offset) {
                return stop;
            }
            let count = piece.min(len - position);
            match net::sendfile(tcp.as_fd(), file.as_fd(), &mut position, count) {
                Ok(0) => return Outcome::Complete(position - offset),
                Ok(n) => {
                    if let Some(stop) = self.pace(n, position - offset) {
                        return stop;
                    }
                    last_progress = Instant::now();
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                    ) =>
                {
                    if last_progress.elapsed() >= DATA_STALL_TIMEOUT {
                        return Outcome::Failed(position - offset, stalled_reply());
                    }
                }
                Err(e) => return self.data_failure(position - offset, &e),
            }
        }
        Outcome::Complete(position - offset)
    }

    /// What a download reads (already at its offset) → data connection through one
    /// `TRANSFER_BUFFER`, converting line ends when asked.
    pub(super) fn copy_buffered(
        &mut self,
        stream: &mut Stream,
        file: &mut dyn Read,
        mut ascii: Option<ToNetwork>,
    ) -> Outcome {
        let mut buf = vec![0u8; self.piece().unwrap_or(TRANSFER_BUFFER)];
        let mut converted = Vec::new();
        let mut sent = 0u64;
        loop {
            let n = match file.read(&mut buf) {
                Ok(0) => return Outcome::Complete(sent),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Outcome::Failed(sent, storage::Error::from(e).reply()),
            };
            let chunk = match &mut ascii {
                Some(conv) => {
                    conv.convert(&buf[..n], &mut converted);
                    &converted[..]
                }
                None => &buf[..n],
            };
            if let Err(e) = stream.write_all(chunk) {
                return self.data_failure(sent, &e);
            }
            sent += chunk.len() as u64;
            if let Some(stop) = self.pace(chunk.len(), sent) {
                return stop;
            }
            if let Some(stop) = self.interruption(sent) {
                return stop;
            }
        }
    }

    /// Upload loop: waits on data and control together (waking every `CONTROL_POLL`) so ABOR,
    /// a ban or the shutdown deadline are seen even while the client sends nothing.
    pub(super) fn receive(&mut self, stream: &mut Stream, upload: &mut Upload) -> Outcome {
        let mut intake = Intake::for_upload(stream, upload, self.transfer_type, self.piece());
        let mut received = 0u64;
        let mut last_progress = Instant::now();
        loop {
            let (data_ready, control_ready) = self.wait_data_or_control(stream);
            if control_ready && let Some(stop) = self.control_interrupt(received) {
                return stop;
            }
            if let Some(stop) = self.stop_reason(received) {
                return stop;
            }
            if !data_ready {
                if last_progress.elapsed() >= DATA_STALL_TIMEOUT {
                    return Outcome::Failed(received, stalled_reply());
                }
                continue;
            }
            match intake.take(stream, upload, received) {
                Ok((0, _)) => break,
                Ok((n, stored)) => {
                    received += n as u64;
                    if let Err(e) = upload.wrote(stored) {
                        return self.drain_refused(stream, &mut intake.buf, received, e.reply());
                    }
                    if let Some(stop) = self.pace(n, received) {
                        return stop;
                    }
                    last_progress = Instant::now();
                }
                Err(TakeError::Network(e)) => match e.kind() {
                    io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock => {}
                    io::ErrorKind::UnexpectedEof if stream.is_tls() => {
                        log::warn!(
                            "{}: protected upload ended without TLS close_notify after {received} bytes (possibly truncated)",
                            self.control.peer
                        );
                        if self.shared.settings.tls_strict_eof {
                            return Outcome::Failed(received, aborted_reply());
                        }
                        break;
                    }
                    _ => return self.data_failure(received, &e),
                },
                Err(TakeError::File(e)) => {
                    return Outcome::Failed(received, storage::Error::from(e).reply());
                }
            }
        }
        if let Err(e) = intake.finish(upload) {
            return Outcome::Failed(received, storage::Error::from(e).reply());
        }
        // A client killed mid-upload closes both connections; its data EOF must not publish
        // a truncated file.
        if self.control.peer_closed() {
            return Outcome::ControlLost(received);
        }
        Outcome::Complete(received)
    }

    /// Waits up to `CONTROL_POLL` for upload data or a command: (data ready, control ready).
    /// With a command already waiting, only data is watched.
    fn wait_data_or_control(&self, stream: &mut Stream) -> (bool, bool) {
        if stream.plaintext_pending() {
            (true, false)
        } else if self.pending.is_some() {
            let ready = net::wait_readable(stream.fd(), CONTROL_POLL).unwrap_or(true);
            (ready, false)
        } else {
            net::wait_either(stream.fd(), self.control.fd(), CONTROL_POLL).unwrap_or((true, false))
        }
    }

    /// An upload the quota stopped: reads and drops what the client still sends (up to
    /// `QUOTA_DRAIN`), then answers `refusal`. ABOR, a closed control connection, a ban and
    /// the shutdown deadline end the wait as in `receive`.
    fn drain_refused(
        &mut self,
        stream: &mut Stream,
        buf: &mut [u8],
        received: u64,
        refusal: Reply,
    ) -> Outcome {
        let (mut drained, mut last_progress) = (0u64, Instant::now());
        // Bounded: by `QUOTA_DRAIN` bytes and by `DATA_STALL_TIMEOUT` without any.
        while drained < QUOTA_DRAIN && last_progress.elapsed() < DATA_STALL_TIMEOUT {
            let (data_ready, control_ready) = self.wait_data_or_control(stream);
            if control_ready && let Some(stop) = self.control_interrupt(received) {
                return stop;
            }
            if let Some(stop) = self.stop_reason(received) {
                return stop;
            }
            if data_ready {
                match stream.read(buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        drained += n as u64;
                        // SECURITY: the dropped bytes keep to the user's rate too.
                        if let Some(stop) = self.pace(n, received) {
                            return stop;
                        }
                        last_progress = Instant::now();
                    }
                    Err(e)
                        if matches!(
                            e.kind(),
                            io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                        ) => {}
                    Err(_) => break,
                }
            }
        }
        log::info!(
            "{}: upload refused by the quota after {received} bytes ({drained} more dropped)",
            self.control.peer
        );
        Outcome::Failed(received, refusal)
    }

    /// The chunk size of a paced transfer (None: not paced).
    fn piece(&self) -> Option<usize> {
        self.pacer.as_ref().map(|p| p.chunk())
    }

    /// After `n` more bytes of a paced transfer: waits as long as the user's rate says,
    /// looking at the control connection meanwhile, so ABOR, a ban or the shutdown deadline
    /// end the wait.
    fn pace(&mut self, n: usize, moved: u64) -> Option<Outcome> {
        let pacer = self.pacer.as_ref()?;
        let now = Instant::now();
        let until = now + pacer.charge(n as u64, now);
        // Bounded: every round waits up to `CONTROL_POLL`, and the deadline is fixed.
        loop {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            let step = left.min(CONTROL_POLL);
            if self.pending.is_some() {
                std::thread::sleep(step);
            } else if (self.control.input_pending()
                || net::wait_readable(self.control.fd(), step).unwrap_or(false))
                && let Some(stop) = self.control_interrupt(moved)
            {
                return Some(stop);
            }
            if let Some(stop) = self.stop_reason(moved) {
                return Some(stop);
            }
        }
    }

    /// Between download chunks: ABOR, a vanished client, a ban, or the shutdown deadline.
    fn interruption(&mut self, sent: u64) -> Option<Outcome> {
        if self.pending.is_none()
            && self.control.input_pending()
            && let Some(stop) = self.control_interrupt(sent)
        {
            return Some(stop);
        }
        self.stop_reason(sent)
    }

    /// Reasons a transfer must stop that do not come from the client.
    pub(super) fn stop_reason(&mut self, bytes: u64) -> Option<Outcome> {
        if let Some(reply) = self.account_revoked() {
            return Some(Outcome::Revoked(bytes, reply));
        }
        if self.shared.shutdown.grace_expired() {
            let reply = Reply::new(
                codes::TRANSFER_ABORTED,
                "Server shutting down; transfer aborted.",
            );
            return Some(Outcome::Failed(bytes, reply));
        }
        None
    }

    /// Reads the command that arrived during a transfer: ABOR aborts, a closed control
    /// connection ends the session, anything else waits in `pending` for after the transfer.
    fn control_interrupt(&mut self, moved: u64) -> Option<Outcome> {
        let mut line = Vec::new();
        match self.control.read_line(&mut line) {
            Ok(Incoming::Line) if Command::parse(&line) == Ok(Command::Abor) => {
                Some(Outcome::Aborted(moved))
            }
            Ok(Incoming::Line) => {
                self.pending = Some(line);
                None
            }
            Ok(Incoming::Closed) | Err(_) => Some(Outcome::ControlLost(moved)),
            Ok(Incoming::TooLong | Incoming::Idle) => None,
        }
    }

    fn data_failure(&self, bytes: u64, e: &io::Error) -> Outcome {
        log::info!(
            "data connection of {} failed after {bytes} bytes: {e}",
            self.control.peer
        );
        if matches!(
            e.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        ) {
            return Outcome::Failed(bytes, stalled_reply());
        }
        Outcome::Failed(bytes, aborted_reply())
    }
}
