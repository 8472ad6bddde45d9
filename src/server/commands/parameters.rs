//! TYPE, PASV, EPSV, PORT, EPRT, REST (MODE, STRU and ALLO are answered in the dispatch).

use std::net::{IpAddr, SocketAddr};

use crate::protocol::address::{self, canonical};
use crate::protocol::{Reply, TransferType, codes};
use crate::server::data::{self, DataPlan};
use crate::server::session::Session;

impl Session<'_> {
    pub(super) fn set_type(&mut self, t: TransferType) -> Reply {
        self.transfer_type = t;
        match t {
            TransferType::Ascii => Reply::new(codes::OK, "Switching to ASCII mode."),
            TransferType::Image => Reply::new(codes::OK, "Switching to Binary mode."),
        }
    }

    pub(super) fn pasv(&mut self) -> Reply {
        if self.epsv_all {
            return Reply::new(codes::BAD_SEQUENCE, "EPSV ALL in effect; use EPSV.");
        }
        let IpAddr::V4(local) = canonical(self.control.local.ip()) else {
            return Reply::new(codes::BAD_NETWORK_PROTOCOL, "PASV is IPv4 only; use EPSV.");
        };
        let announced = match self.shared.settings.pasv_address {
            Some(IpAddr::V4(ip)) => ip,
            _ => local,
        };
        match self.open_passive() {
            Some(port) => Reply::new(codes::PASSIVE, address::pasv_text(announced, port)),
            None => Reply::new(codes::CANT_OPEN_DATA, "Can't open passive connection."),
        }
    }

    pub(super) fn epsv(&mut self, arg: Option<&str>) -> Reply {
        // EPSV names a port only, which the client would open on the proxy's address: through
        // a proxy only PASV, naming this node's own address, reaches the node.
        if self.control.via_proxy.is_some() {
            return Reply::new(
                codes::NOT_IMPLEMENTED,
                "EPSV is not available through a proxy; use PASV.",
            );
        }
        let local_is_v4 = canonical(self.control.local.ip()).is_ipv4();
        match arg.map(str::trim) {
            Some(a) if a.eq_ignore_ascii_case("ALL") => {
                self.epsv_all = true;
                return Reply::new(codes::OK, "EPSV ALL ok.");
            }
            None => {}
            Some("1") if local_is_v4 => {}
            Some("2") if !local_is_v4 => {}
            Some("1" | "2") => {
                let ours = if local_is_v4 { 1 } else { 2 };
                return Reply::new(
                    codes::BAD_NETWORK_PROTOCOL,
                    format!("Network protocol not supported, use ({ours})."),
                );
            }
            Some(_) => return Reply::new(codes::PARAMETER_ERROR, "Unknown network protocol."),
        }
        match self.open_passive() {
            Some(port) => Reply::new(codes::EXTENDED_PASSIVE, address::epsv_text(port)),
            None => Reply::new(codes::CANT_OPEN_DATA, "Can't open passive connection."),
        }
    }

    fn open_passive(&mut self) -> Option<u16> {
        // Drop any previous listener first so its port is free again.
        self.data_plan = DataPlan::None;
        let local = self.control.local.ip();
        match data::listen_passive(local, self.shared.settings.pasv_ports.as_ref()) {
            Ok(listener) => {
                let port = listener.local_addr().ok()?.port();
                self.data_plan = DataPlan::Passive(listener);
                Some(port)
            }
            Err(e) => {
                log::warn!("passive listen on {local} failed: {e}");
                None
            }
        }
    }

    /// PORT and EPRT.
    pub(super) fn port(&mut self, target: SocketAddr) -> Reply {
        if self.epsv_all {
            return Reply::new(codes::BAD_SEQUENCE, "EPSV ALL in effect; use EPSV.");
        }
        let peer = self.control.peer.ip();
        if !data::active_target_allowed(target, peer) {
            log::warn!("refused active data target {target} from {peer} (bounce attempt?)");
            return Reply::new(codes::PARAMETER_NOT_IMPLEMENTED, "Illegal PORT command.");
        }
        self.data_plan = DataPlan::Active(target);
        Reply::new(codes::OK, "PORT command successful. Consider using PASV.")
    }

    pub(super) fn rest(&mut self, offset: u64) -> Reply {
        self.restart_at = offset;
        Reply::new(
            codes::PENDING,
            format!("Restart position accepted ({offset})."),
        )
    }
}
