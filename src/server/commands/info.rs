//! FEAT, OPTS, STAT (HELP, SYST and NOOP are answered in the dispatch).

use crate::protocol::listing::FactSet;
use crate::protocol::{Reply, TransferType, codes};
use crate::server::session::{Session, SessionError};

impl Session<'_> {
    pub(super) fn feat(&self) -> Reply {
        let body = vec![
            "AUTH TLS".to_owned(),
            "PBSZ".to_owned(),
            "PROT".to_owned(),
            "EPRT".to_owned(),
            "EPSV".to_owned(),
            "MDTM".to_owned(),
            "MFMT".to_owned(),
            format!("MLST {}", self.mlst_facts.feat_line()),
            "PASV".to_owned(),
            "REST STREAM".to_owned(),
            "SIZE".to_owned(),
            "TVFS".to_owned(),
            "UTF8".to_owned(),
        ];
        Reply::multi(codes::SYSTEM_STATUS, "Features:", body, "End")
    }

    pub(super) fn opts(&mut self, arg: &str) -> Reply {
        let (option, value) = arg.split_once(' ').unwrap_or((arg, ""));
        match option.to_ascii_uppercase().as_str() {
            "UTF8" | "UTF-8" => match value.trim().to_ascii_uppercase().as_str() {
                "ON" | "" => Reply::new(codes::OK, "Always in UTF8 mode."),
                _ => Reply::new(
                    codes::PARAMETER_NOT_IMPLEMENTED,
                    "UTF8 cannot be turned off.",
                ),
            },
            "MLST" => {
                self.mlst_facts = FactSet::select(value);
                Reply::new(
                    codes::OK,
                    format!("MLST OPTS {}", self.mlst_facts.selected()),
                )
            }
            _ => Reply::new(codes::PARAMETER_ERROR, "Option not understood."),
        }
    }

    pub(super) fn stat(&mut self, arg: Option<&str>) -> Result<Reply, SessionError> {
        if let Some(path) = arg {
            return self.stat_path(path);
        }
        let mut body = vec![format!("Connected to {}", self.control.peer.ip())];
        match self.user_name() {
            Some(user) => body.push(format!("Logged in as {user}")),
            None => body.push("Not logged in".to_owned()),
        }
        body.push(match self.transfer_type {
            TransferType::Ascii => "TYPE: ASCII".to_owned(),
            TransferType::Image => "TYPE: BINARY".to_owned(),
        });
        body.push(format!(
            "Session timeout in seconds is {}",
            self.shared.settings.idle_timeout.as_secs()
        ));
        body.push("No data connection".to_owned());
        Ok(Reply::multi(
            codes::SYSTEM_STATUS,
            "ferroftp status:",
            body,
            "End of status",
        ))
    }
}
