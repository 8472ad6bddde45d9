//! SITE subcommands. `SITE HELP` lists what this server offers.

use crate::protocol::{Reply, codes};
use crate::server::session::Session;

impl Session<'_> {
    pub(super) fn site(&mut self, arg: &str) -> Reply {
        let (sub, _rest) = arg.split_once(' ').unwrap_or((arg, ""));
        match sub.to_ascii_uppercase().as_str() {
            "HELP" => Reply::new(codes::HELP, "SITE commands: HELP"),
            other => Reply::new(
                codes::SYNTAX_ERROR,
                format!("Unknown SITE command {other}."),
            ),
        }
    }
}
