//! AUTH, PBSZ, PROT, CCC (RFC 2228, RFC 4217): explicit FTPS.

use std::time::Instant;

use crate::limits::TLS_HANDSHAKE_TIMEOUT;
use crate::protocol::address::canonical;
use crate::protocol::{Reply, codes};
use crate::server::session::{Session, SessionError};

impl Session<'_> {
    pub(super) fn auth(&mut self, mechanism: &str) -> Result<Reply, SessionError> {
        if self.control.is_tls() {
            return Ok(Reply::new(codes::BAD_SEQUENCE, "Already using TLS."));
        }
        let implies_prot_p = match mechanism {
            "TLS" | "TLS-C" => false,
            "SSL" | "TLS-P" => true,
            _ => {
                return Ok(Reply::new(
                    codes::PARAMETER_NOT_IMPLEMENTED,
                    "AUTH mechanism not supported; use AUTH TLS.",
                ));
            }
        };
        // SECURITY: anything the client pipelined after AUTH arrived in clear text and must not
        // be executed as if it came over TLS (command injection, cf. CVE-2011-0411).
        if self.control.has_buffered_input() {
            log::warn!("{}: data pipelined after AUTH; closing", self.control.peer);
            return Err(SessionError::Close(Reply::new(
                codes::UNAVAILABLE,
                "Unexpected data after AUTH.",
            )));
        }
        let configs = self
            .shared
            .identity
            .session_configs(canonical(self.control.peer.ip()));
        self.control.send(&Reply::new(
            codes::SECURITY_EXCHANGE_OK,
            "Proceed with negotiation.",
        ))?;
        let deadline = Instant::now() + TLS_HANDSHAKE_TIMEOUT;
        if let Err(e) = self.control.upgrade_tls(configs.control.clone(), deadline) {
            log::info!("{}: TLS handshake failed: {e}", self.control.peer);
            return Err(e.into());
        }
        self.tls = Some(configs);
        if implies_prot_p {
            self.pbsz_set = true;
            self.protect_data = true;
        }
        Err(SessionError::Answered)
    }

    pub(super) fn pbsz(&mut self) -> Reply {
        if !self.control.is_tls() {
            return Reply::new(codes::BAD_SEQUENCE, "PBSZ needs AUTH TLS first.");
        }
        self.pbsz_set = true;
        Reply::new(codes::OK, "PBSZ=0")
    }

    pub(super) fn prot(&mut self, level: char) -> Reply {
        if !self.pbsz_set {
            return Reply::new(codes::BAD_SEQUENCE, "PROT needs PBSZ first.");
        }
        match level {
            'P' => {
                self.protect_data = true;
                Reply::new(codes::OK, "Protection level set to P.")
            }
            'C' => {
                self.protect_data = false;
                Reply::new(codes::OK, "Protection level set to C.")
            }
            'S' | 'E' => Reply::new(
                codes::PROTECTION_NOT_SUPPORTED,
                "Protection level not supported.",
            ),
            _ => Reply::new(
                codes::PARAMETER_NOT_IMPLEMENTED,
                "Unknown protection level.",
            ),
        }
    }

    pub(super) fn ccc(&self) -> Reply {
        Reply::new(
            codes::POLICY_REFUSES,
            "CCC not allowed: the control connection stays encrypted.",
        )
    }
}
