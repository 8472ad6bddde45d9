//! Protected passive data connections taken as they arrive, before their transfer command:
//! the TLS handshake starts as soon as the client begins it, for clients that finish it
//! before they send the command (aioftp) or send a zero-byte upload right after it
//! (basic-ftp). The session calls in here while it waits for its next command line.

use std::io;
use std::os::fd::{AsFd, BorrowedFd};

use crate::limits::CONTROL_POLL;
use crate::server::data::{self, DataPlan};
use crate::server::net;
use crate::server::session::Session;

/// What woke a session that waits for a command and for its data connection.
pub(in crate::server) enum Woke {
    /// The control connection has input: read the line.
    Control,
    /// The data connection moved on (accepted, or its handshake done).
    Data,
    /// Neither within `CONTROL_POLL`: check the timers.
    Neither,
}

impl Session<'_> {
    /// The socket to watch while waiting for a command: a passive listener or an accepted,
    /// not yet protected data connection, under PROT P.
    fn early_data_fd(&self) -> Option<BorrowedFd<'_>> {
        if !self.protect_data || self.tls.is_none() {
            return None;
        }
        match &self.data_plan {
            DataPlan::Passive(listener) => Some(listener.as_fd()),
            DataPlan::Accepted(tcp) => Some(tcp.as_fd()),
            _ => None,
        }
    }

    /// Waits up to `CONTROL_POLL` for the control connection or the data connection; `None`
    /// when there is no data connection to watch (read the control connection as usual).
    pub(in crate::server) fn wait_for_control_or_data(&mut self) -> io::Result<Option<Woke>> {
        if self.control.has_buffered_input() {
            return Ok(None);
        }
        let Some(data_fd) = self.early_data_fd() else {
            return Ok(None);
        };
        let (data_ready, control_ready) =
            net::wait_either(data_fd, self.control.fd(), CONTROL_POLL)?;
        // A command that is already there goes first: it tells which way the data will flow.
        if control_ready {
            return Ok(Some(Woke::Control));
        }
        if !data_ready {
            return Ok(Some(Woke::Neither));
        }
        self.advance_early_data();
        Ok(Some(Woke::Data))
    }

    /// Accepts the passive connection (from the control peer only), or runs the TLS
    /// handshake of an accepted one whose client has started it. The transfer command later
    /// uses what came of it, 522 and 425 included.
    fn advance_early_data(&mut self) {
        match std::mem::take(&mut self.data_plan) {
            DataPlan::Passive(listener) => {
                self.data_plan = match data::accept_waiting(&listener, self.control.peer.ip()) {
                    Ok(Some(tcp)) => DataPlan::Accepted(tcp),
                    Ok(None) => DataPlan::Passive(listener),
                    Err(e) => {
                        log::info!("data connection for {} failed: {e}", self.control.peer);
                        DataPlan::None
                    }
                };
            }
            DataPlan::Accepted(tcp) => {
                // The direction is not known yet: the config that sends no tickets, which a
                // client that closes without reading them cannot trip over.
                let config = self.tls.as_ref().map(|t| t.upload.clone());
                self.data_plan = match config {
                    Some(config) => DataPlan::Protected(self.protect(tcp, config)),
                    None => DataPlan::Accepted(tcp),
                };
            }
            other => self.data_plan = other,
        }
    }
}
