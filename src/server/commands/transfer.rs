//! RETR, STOR, STOU and APPE: each verb resolves its path, opens the data connection
//! (`server/data.rs`), runs a copy loop (`copy.rs`), then answers and logs the outcome.

use std::io::{self, Write};
use std::time::Instant;

use crate::protocol::ascii::ToNetwork;
use crate::protocol::{Reply, TransferType, codes};
use crate::server::commands::copy::{Outcome, aborted_reply};
use crate::server::pace::Way;
use crate::server::session::{Session, SessionError};
use crate::server::xferlog::{Direction, Entry};
use crate::storage::{self, Reader, Resolved, Upload, UploadMode};

impl Session<'_> {
    pub(super) fn retr(&mut self, path: &str) -> Result<Reply, SessionError> {
        let target = self.resolve(path)?;
        let offset = std::mem::take(&mut self.restart_at);
        let (mut reader, len) = self.shared.storage.open_read(&target, offset)?;
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
        self.pacer = self.pacer_for(Way::Download);
        // The reader starts at the offset; a binary download of a file may use sendfile.
        let outcome = match (&mut reader, self.transfer_type) {
            (Reader::File(file), TransferType::Image) => {
                self.send_file(&mut stream, file, offset, len)
            }
            (reader, kind) => {
                let ascii = (kind == TransferType::Ascii).then(ToNetwork::default);
                self.copy_buffered(&mut stream, reader, ascii)
            }
        };
        self.pacer = None;
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
        let upload =
            self.shared
                .storage
                .begin_upload(&self.grants, &target, mode, public, self.quota())?;
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
        let upload = self.shared.storage.begin_upload(
            &self.grants,
            &target,
            UploadMode::Replace,
            public,
            self.quota(),
        )?;
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
        self.pacer = self.pacer_for(Way::Upload);
        let mut outcome = self.receive(&mut stream, &mut upload);
        self.pacer = None;
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
        self.shared
            .metrics
            .transfer(direction, outcome.bytes(), complete);
        if matches!(outcome, Outcome::Aborted(_)) {
            self.shared.metrics.transfer_error(codes::TRANSFER_ABORTED);
        }
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
