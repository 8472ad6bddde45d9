//! RETR, STOR, STOU, APPE and the data-transfer loops they share with the listings. ABOR is
//! noticed between chunks: the control connection is polled while data flows.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::net::TcpStream;
use std::os::fd::AsFd;
use std::sync::Arc;
use std::time::Instant;

use crate::limits::{
    CONTROL_POLL, DATA_STALL_TIMEOUT, SENDFILE_CHUNK, SPLICE_AFTER, TRANSFER_BUFFER,
};
use crate::protocol::ascii::{FromNetwork, ToNetwork};
use crate::protocol::{Command, Reply, TransferType, codes};
use crate::server::control::Incoming;
use crate::server::data::{self, DataError, DataPlan};
use crate::server::net;
use crate::server::session::{Session, SessionError};
use crate::server::splice::{SpliceError, SplicePipe};
use crate::server::stream::Stream;
use crate::server::xferlog::{Direction, Entry};
use crate::storage::{self, Resolved, Upload, UploadMode};

/// How a transfer ended.
enum Outcome {
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
    fn bytes(&self) -> u64 {
        match self {
            Outcome::Complete(n)
            | Outcome::Aborted(n)
            | Outcome::Failed(n, _)
            | Outcome::ControlLost(n)
            | Outcome::Revoked(n, _) => *n,
        }
    }
}

/// What a look at the control connection during a transfer found.
enum ControlCheck {
    Nothing,
    Abort,
    Closed,
}

fn stalled_reply() -> Reply {
    Reply::new(
        codes::TRANSFER_ABORTED,
        "Data connection stalled; transfer aborted.",
    )
}

fn aborted_reply() -> Reply {
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
    fn for_upload(stream: &Stream, upload: &Upload, kind: TransferType) -> Intake {
        let plain_binary = !stream.is_tls() && kind == TransferType::Image && !upload.is_append();
        Intake {
            buf: vec![0u8; TRANSFER_BUFFER],
            ascii: (kind == TransferType::Ascii).then(|| (FromNetwork::default(), Vec::new())),
            splice: if plain_binary {
                Splicing::Later
            } else {
                Splicing::Never
            },
        }
    }

    /// Moves what the data connection has to the file: the bytes received (0 at its end);
    /// `so_far` counts the bytes before.
    fn take(
        &mut self,
        stream: &mut Stream,
        upload: &mut Upload,
        so_far: u64,
    ) -> Result<usize, TakeError> {
        if matches!(self.splice, Splicing::Later) && so_far >= SPLICE_AFTER {
            self.splice = match SplicePipe::new(TRANSFER_BUFFER) {
                Ok(pipe) => Splicing::Ready(pipe),
                Err(e) => {
                    log::warn!("no pipe for splice ({e}); the upload goes on through a buffer");
                    Splicing::Never
                }
            };
        }
        if let Splicing::Ready(pipe) = &self.splice {
            return pipe
                .socket_to_file(stream.fd(), upload.file().as_fd())
                .map_err(|e| match e {
                    SpliceError::Socket(e) => TakeError::Network(e),
                    SpliceError::File(e) => TakeError::File(e),
                });
        }
        let n = stream
            .read_burst(&mut self.buf)
            .map_err(TakeError::Network)?;
        let chunk = match &mut self.ascii {
            Some((conv, converted)) => {
                conv.convert(&self.buf[..n], converted);
                &converted[..]
            }
            None => &self.buf[..n],
        };
        upload.file().write_all(chunk).map_err(TakeError::File)?;
        Ok(n)
    }

    /// After the last byte: an ASCII upload's held-back CR.
    fn finish(&mut self, upload: &mut Upload) -> io::Result<()> {
        if let Some((conv, converted)) = &mut self.ascii {
            conv.finish(converted);
            upload.file().write_all(converted)?;
        }
        Ok(())
    }
}

impl Session<'_> {
    pub(super) fn retr(&mut self, path: &str) -> Result<Reply, SessionError> {
        let target = self.resolve(path)?;
        let (file, len) = self.shared.storage.open_read(&target)?;
        let offset = std::mem::take(&mut self.restart_at);
        if offset > len {
            return Err(storage::Error::BadOffset.into());
        }
        let mode = self.mode_name();
        let mut stream = self.open_data(
            &format!(
                "Opening {mode} mode data connection for {} ({len} bytes).",
                target.virt
            ),
            Direction::Outgoing,
        )?;
        let started = Instant::now();
        let outcome = match self.transfer_type {
            TransferType::Image => self.send_file(&mut stream, &file, offset, len),
            TransferType::Ascii => self.send_file_ascii(&mut stream, &file, offset),
        };
        stream.finish();
        self.log_transfer(&target, Direction::Outgoing, started, &outcome);
        self.finish(outcome)
    }

    /// STOR (and APPE when `append`).
    pub(super) fn stor(&mut self, path: &str, append: bool) -> Result<Reply, SessionError> {
        let target = self.resolve(path)?;
        let offset = std::mem::take(&mut self.restart_at);
        let mode = match (append, offset) {
            (true, _) => UploadMode::Append,
            (false, 0) => UploadMode::Replace,
            (false, n) => UploadMode::Resume(n),
        };
        if mode == UploadMode::Replace
            && !self.shared.settings.overwrite
            && self.shared.storage.exists(&target)
        {
            return Ok(Reply::new(
                codes::NAME_NOT_ALLOWED,
                "Could not create file: it exists.",
            ));
        }
        let public = self.new_entry_public(&target);
        let upload = self
            .shared
            .storage
            .begin_upload(&self.grants, &target, mode, public)?;
        let opening = format!(
            "Opening {} mode data connection for {}.",
            self.mode_name(),
            target.virt
        );
        self.receive_upload(target, upload, &opening, "Transfer complete.")
    }

    /// STOU: store under a name that does not exist yet (RFC 1123 4.1.2.9).
    pub(super) fn stou(&mut self, base: Option<&str>) -> Result<Reply, SessionError> {
        const MAX_TRIES: usize = 1000;
        self.restart_at = 0;
        let base = base.unwrap_or("ferroftp.upload");
        let mut target = None;
        for i in 0..MAX_TRIES {
            let name = if i == 0 {
                base.to_owned()
            } else {
                format!("{base}.{i}")
            };
            match self.resolve(&name) {
                Ok(candidate) if !self.shared.storage.exists(&candidate) => {
                    target = Some(candidate);
                    break;
                }
                Ok(_) => {}
                // Someone else's private file hides there: taken, try the next name.
                Err(storage::Error::NotFound)
                    if i == 0 && self.resolve(&format!("{name}/..")).is_ok() => {}
                Err(storage::Error::NotFound) if i > 0 => {}
                Err(e) => return Err(e.into()),
            }
        }
        let target = target.ok_or(storage::Error::AlreadyExists)?;
        let public = self.new_entry_public(&target);
        let upload =
            self.shared
                .storage
                .begin_upload(&self.grants, &target, UploadMode::Replace, public)?;
        let name = target.virt.file_name().unwrap_or_default().to_owned();
        self.receive_upload(
            target,
            upload,
            &format!("FILE: {name}"),
            &format!("Transfer complete (unique file name: {name})."),
        )
    }

    fn receive_upload(
        &mut self,
        target: Resolved,
        mut upload: Upload,
        opening: &str,
        done: &str,
    ) -> Result<Reply, SessionError> {
        let mut stream = self.open_data(opening, Direction::Incoming)?;
        let started = Instant::now();
        let mut outcome = self.receive(&mut stream, &mut upload);
        // Answer the client's close_notify with ours: Python's ssl unwrap() waits for it.
        stream.finish();
        // SECURITY: an account deleted while its upload flowed publishes nothing: the file
        // would otherwise be recorded under a name that may already belong to someone new.
        if matches!(outcome, Outcome::Complete(_))
            && let Some(revoked) = self.account_revoked()
        {
            drop(upload);
            return Err(SessionError::Close(revoked));
        }
        if let Outcome::Complete(n) = outcome {
            outcome = match self.shared.storage.finish_upload(&self.grants, upload) {
                Ok(()) => Outcome::Complete(n),
                Err(e) => {
                    log::error!("upload of {} failed at commit: {e}", target.virt);
                    Outcome::Failed(n, e.reply())
                }
            };
        } else {
            drop(upload);
        }
        self.log_transfer(&target, Direction::Incoming, started, &outcome);
        match outcome {
            Outcome::Complete(_) => Ok(Reply::new(codes::TRANSFER_COMPLETE, done.to_owned())),
            other => self.finish(other),
        }
    }

    /// Sends a listing body over a data connection.
    pub(super) fn send_listing(&mut self, body: &[u8]) -> Result<Reply, SessionError> {
        let mut stream =
            self.open_data("Here comes the directory listing.", Direction::Outgoing)?;
        match stream.write_all(body) {
            Ok(()) => {
                stream.finish();
                Ok(Reply::new(codes::TRANSFER_COMPLETE, "Directory send OK."))
            }
            Err(e) => {
                log::debug!("listing to {} failed: {e}", self.control.peer);
                self.transfer_failed = true;
                Ok(aborted_reply())
            }
        }
    }

    /// Sends `150 <opening>` and opens the data connection (TLS under PROT P, resuming this
    /// control connection's session); `425` (without 150) when the client set none up.
    fn open_data(&mut self, opening: &str, direction: Direction) -> Result<Stream, SessionError> {
        if self.shared.settings.require_tls && !self.protect_data {
            return Err(SessionError::Reply(Reply::new(
                521,
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
        let tcp = match data::establish(
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

    fn finish(&mut self, outcome: Outcome) -> Result<Reply, SessionError> {
        match outcome {
            Outcome::Complete(_) => Ok(Reply::new(codes::TRANSFER_COMPLETE, "Transfer complete.")),
            Outcome::Aborted(_) => {
                self.control.send(&aborted_reply())?;
                Ok(Reply::new(codes::TRANSFER_COMPLETE, "ABOR successful."))
            }
            Outcome::Failed(_, reply) => {
                self.transfer_failed = reply.code == codes::TRANSFER_ABORTED;
                Ok(reply)
            }
            Outcome::Revoked(_, reply) => {
                self.control.send(&aborted_reply())?;
                Err(SessionError::Close(reply))
            }
            Outcome::ControlLost(_) => Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "control connection closed during transfer",
            )
            .into()),
        }
    }

    /// Binary download. Plain TCP: sendfile(2), looking at the control connection between
    /// calls, so ABOR is answered even while the client reads nothing.
    /// TLS: large buffered writes.
    fn send_file(
        &mut self,
        stream: &mut Stream,
        mut file: &File,
        offset: u64,
        len: u64,
    ) -> Outcome {
        let Stream::Plain(tcp) = stream else {
            if let Err(e) = file.seek(SeekFrom::Start(offset)) {
                return Outcome::Failed(0, storage::Error::from(e).reply());
            }
            return self.copy_buffered(stream, file, None);
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
        while position < len {
            let sent = position - offset;
            if self.pending.is_none() && self.control.input_pending() {
                match self.check_control() {
                    ControlCheck::Abort => return Outcome::Aborted(sent),
                    ControlCheck::Closed => return Outcome::ControlLost(sent),
                    ControlCheck::Nothing => {}
                }
            }
            if let Some(stop) = self.stop_reason(sent) {
                return stop;
            }
            let count = SENDFILE_CHUNK.min(len - position);
            match net::sendfile(tcp.as_fd(), file.as_fd(), &mut position, count) {
                Ok(0) => return Outcome::Complete(position - offset),
                Ok(_) => last_progress = Instant::now(),
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

    fn send_file_ascii(&mut self, stream: &mut Stream, mut file: &File, offset: u64) -> Outcome {
        if let Err(e) = file.seek(SeekFrom::Start(offset)) {
            return Outcome::Failed(0, storage::Error::from(e).reply());
        }
        self.copy_buffered(stream, file, Some(ToNetwork::default()))
    }

    /// File → stream through one `TRANSFER_BUFFER`, converting line ends when asked.
    fn copy_buffered(
        &mut self,
        stream: &mut Stream,
        mut file: &File,
        mut ascii: Option<ToNetwork>,
    ) -> Outcome {
        let mut buf = vec![0u8; TRANSFER_BUFFER];
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
            if let Some(stop) = self.interruption(sent) {
                return stop;
            }
        }
    }

    /// Upload loop: waits on data and control together (waking every `CONTROL_POLL`) so ABOR,
    /// a ban or the shutdown deadline are seen even while the client sends nothing.
    fn receive(&mut self, stream: &mut Stream, upload: &mut Upload) -> Outcome {
        let mut intake = Intake::for_upload(stream, upload, self.transfer_type);
        let mut received = 0u64;
        let mut last_progress = Instant::now();
        loop {
            let (data_ready, control_ready) = if stream.plaintext_pending() {
                (true, false)
            } else if self.pending.is_some() {
                let ready = net::wait_readable(stream.fd(), CONTROL_POLL).unwrap_or(true);
                (ready, false)
            } else {
                net::wait_either(stream.fd(), self.control.fd(), CONTROL_POLL)
                    .unwrap_or((true, false))
            };
            if control_ready {
                match self.check_control() {
                    ControlCheck::Abort => return Outcome::Aborted(received),
                    ControlCheck::Closed => return Outcome::ControlLost(received),
                    ControlCheck::Nothing => {}
                }
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
                Ok(0) => break,
                Ok(n) => {
                    last_progress = Instant::now();
                    received += n as u64;
                    upload.wrote(n);
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

    /// Between download chunks: ABOR, a vanished client, a ban, or the shutdown deadline.
    fn interruption(&mut self, sent: u64) -> Option<Outcome> {
        if self.pending.is_none() && self.control.input_pending() {
            match self.check_control() {
                ControlCheck::Abort => return Some(Outcome::Aborted(sent)),
                ControlCheck::Closed => return Some(Outcome::ControlLost(sent)),
                ControlCheck::Nothing => {}
            }
        }
        self.stop_reason(sent)
    }

    /// Reasons a transfer must stop that do not come from the client.
    fn stop_reason(&mut self, bytes: u64) -> Option<Outcome> {
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

    /// Reads the command that arrived during a transfer: ABOR aborts, anything else waits.
    fn check_control(&mut self) -> ControlCheck {
        let mut line = Vec::new();
        match self.control.read_line(&mut line) {
            Ok(Incoming::Line) => {
                if Command::parse(&line) == Ok(Command::Abor) {
                    ControlCheck::Abort
                } else {
                    self.pending = Some(line);
                    ControlCheck::Nothing
                }
            }
            Ok(Incoming::Closed) | Err(_) => ControlCheck::Closed,
            Ok(Incoming::TooLong | Incoming::Idle) => ControlCheck::Nothing,
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

    fn mode_name(&self) -> &'static str {
        match self.transfer_type {
            TransferType::Ascii => "ASCII",
            TransferType::Image => "BINARY",
        }
    }

    fn log_transfer(
        &self,
        target: &Resolved,
        direction: Direction,
        started: Instant,
        outcome: &Outcome,
    ) {
        let user = self.user_name().unwrap_or("-");
        let complete = matches!(outcome, Outcome::Complete(_));
        let verb = if direction == Direction::Incoming {
            "upload"
        } else {
            "download"
        };
        let elapsed = started.elapsed();
        log::info!(
            "{verb} {} user={user} ip={} bytes={} secs={:.3} {}",
            target.virt,
            self.control.peer.ip(),
            outcome.bytes(),
            elapsed.as_secs_f64(),
            if complete { "ok" } else { "incomplete" }
        );
        self.shared.xferlog.record(&Entry {
            duration: elapsed,
            remote: self.control.peer.ip(),
            bytes: outcome.bytes(),
            path: target.virt.as_str(),
            ascii: self.transfer_type == TransferType::Ascii,
            direction,
            user,
            complete,
        });
    }
}
