//! Verb → handler. Each family file holds an `impl Session` block:
//!
//! | file            | verbs                                                       |
//! |-----------------|-------------------------------------------------------------|
//! | mod.rs          | dispatch; ACCT QUIT SYST NOOP ALLO STRU MODE HELP inline    |
//! | login.rs        | USER PASS REIN                                              |
//! | info.rs         | FEAT OPTS STAT                                              |
//! | navigation.rs   | PWD CWD CDUP                                                |
//! | parameters.rs   | TYPE PASV EPSV PORT EPRT REST                               |
//! | transfer.rs     | RETR STOR STOU APPE (ABOR between transfers: mod.rs)        |
//! | copy.rs         | the transfer loops: ABOR, bans and shutdown while data flows |
//! | early_data.rs   | a protected data connection accepted before its command     |
//! | listing.rs      | LIST NLST MLSD MLST                                         |
//! | files.rs        | DELE MKD RMD RNFR RNTO SIZE MDTM MFMT                       |
//! | security.rs     | AUTH PBSZ PROT CCC                                          |
//! | site.rs         | SITE HELP USERS ADDUSER DELUSER BAN UNBAN UNBLOCK SIGNUP     |
//! |                 | SITE VISIBILITY CHMOD                                       |

mod copy;
mod early_data;
mod files;
mod info;
mod listing;
mod login;
mod navigation;
mod parameters;
mod security;
mod site;
mod transfer;

pub(super) use early_data::Woke;

use crate::protocol::{Command, Reply, SiteCommand, codes};
use crate::server::session::{Session, SessionError};

/// Commands a client may send before logging in.
pub fn allowed_before_login(command: &Command) -> bool {
    matches!(
        command,
        Command::User(_)
            | Command::Pass(_)
            | Command::Acct
            | Command::Rein
            | Command::Quit
            | Command::Noop
            | Command::Syst
            | Command::Feat
            | Command::Opts(_)
            | Command::Help(_)
            | Command::Stat(None)
            | Command::Abor
            | Command::Auth(_)
            | Command::Pbsz(_)
            | Command::Prot(_)
            | Command::Site(SiteCommand::Signup { .. })
            | Command::Unknown(_)
    )
}

impl Session<'_> {
    /// A REST offset applies to the very next transfer command only; RNFR to the next RNTO.
    /// True when this is an ABOR right after a transfer that failed with 426 (the client
    /// aborted and closed the data connection first): it completes that abort, 226, RFC 959
    /// case 1.
    fn forget_one_shot_state(&mut self, command: &Command) -> bool {
        let keeps_rest = matches!(
            command,
            Command::Rest(_) | Command::Retr(_) | Command::Stor(_) | Command::Appe(_)
        );
        if !keeps_rest {
            self.restart_at = 0;
        }
        if !matches!(command, Command::Rnto(_) | Command::Rnfr(_)) {
            self.rename_from = None;
        }
        std::mem::take(&mut self.transfer_failed)
    }

    pub(super) fn dispatch(&mut self, command: Command) -> Result<Reply, SessionError> {
        let abort_completes = self.forget_one_shot_state(&command);
        match command {
            Command::User(name) => self.user(name),
            Command::Pass(password) => self.pass(&password),
            Command::Acct => Ok(Reply::new(codes::SUPERFLUOUS, "ACCT not needed.")),
            Command::Rein => Ok(self.rein()),
            Command::Quit => Ok(Reply::new(codes::CLOSING, "Goodbye.")),
            Command::Cwd(path) => self.cwd(&path),
            Command::Cdup => self.cdup(),
            Command::Pwd => Ok(self.pwd()),
            Command::Port(addr) | Command::Eprt(addr) => Ok(self.port(addr)),
            Command::Pasv => Ok(self.pasv()),
            Command::Epsv(arg) => Ok(self.epsv(arg.as_deref())),
            Command::Type(t) => Ok(self.set_type(t)),
            Command::Stru(c) => Ok(stru(c)),
            Command::Mode(c) => Ok(mode(c)),
            Command::Rest(offset) => Ok(self.rest(offset)),
            Command::Allo => Ok(Reply::new(codes::SUPERFLUOUS, "ALLO not needed.")),
            Command::Retr(path) => self.retr(&path),
            Command::Stor(path) => self.stor(&path, false),
            Command::Appe(path) => self.stor(&path, true),
            Command::Stou(base) => self.stou(base.as_deref()),
            Command::Abor if abort_completes => {
                Ok(Reply::new(codes::TRANSFER_COMPLETE, "ABOR successful."))
            }
            Command::Abor => Ok(Reply::new(codes::NO_TRANSFER, "No transfer to abort.")),
            Command::List(arg) => self.list(arg.as_deref()),
            Command::Nlst(arg) => self.nlst(arg.as_deref()),
            Command::Mlsd(arg) => self.mlsd(arg.as_deref()),
            Command::Mlst(arg) => self.mlst(arg.as_deref()),
            Command::Dele(path) => self.dele(&path),
            Command::Mkd(path) => self.mkd(&path),
            Command::Rmd(path) => self.rmd(&path),
            Command::Rnfr(path) => self.rnfr(&path),
            Command::Rnto(path) => self.rnto(&path),
            Command::Size(path) => self.size(&path),
            Command::Mdtm(path) => self.mdtm(&path),
            Command::Mfmt { modify, path } => self.mfmt(&modify, &path),
            Command::Site(sub) => self.site(sub),
            Command::Auth(mechanism) => self.auth(&mechanism),
            Command::Pbsz(_) => Ok(self.pbsz()),
            Command::Prot(level) => Ok(self.prot(level)),
            Command::Ccc => Ok(self.ccc()),
            Command::Syst => Ok(Reply::new(codes::SYSTEM_TYPE, "UNIX Type: L8")),
            Command::Feat => Ok(self.feat()),
            Command::Opts(arg) => Ok(self.opts(&arg)),
            Command::Help(arg) => Ok(help(arg.as_deref())),
            Command::Stat(arg) => self.stat(arg.as_deref()),
            Command::Noop => Ok(Reply::new(codes::OK, "NOOP ok.")),
            Command::Unknown(verb) => Ok(Reply::new(
                codes::SYNTAX_ERROR,
                format!("Unknown command {verb}."),
            )),
        }
    }
}

fn stru(c: char) -> Reply {
    match c {
        'F' => Reply::new(codes::OK, "Structure set to F."),
        'R' | 'P' => Reply::new(
            codes::PARAMETER_NOT_IMPLEMENTED,
            "Only STRU F is supported.",
        ),
        _ => Reply::new(codes::PARAMETER_ERROR, "Unknown structure."),
    }
}

fn mode(c: char) -> Reply {
    match c {
        'S' => Reply::new(codes::OK, "Mode set to S."),
        'B' | 'C' | 'Z' => Reply::new(
            codes::PARAMETER_NOT_IMPLEMENTED,
            "Only MODE S is supported.",
        ),
        _ => Reply::new(codes::PARAMETER_ERROR, "Unknown mode."),
    }
}

/// Verbs for HELP, in the order of the table above.
const VERBS: &[&str] = &[
    "USER", "PASS", "ACCT", "REIN", "QUIT", "SYST", "FEAT", "OPTS", "HELP", "STAT", "NOOP", "PWD",
    "XPWD", "CWD", "XCWD", "CDUP", "XCUP", "TYPE", "MODE", "STRU", "PASV", "EPSV", "PORT", "EPRT",
    "REST", "ALLO", "RETR", "STOR", "STOU", "APPE", "ABOR", "LIST", "NLST", "MLSD", "MLST", "DELE",
    "MKD", "XMKD", "RMD", "XRMD", "RNFR", "RNTO", "SIZE", "MDTM", "MFMT", "SITE", "AUTH", "PBSZ",
    "PROT", "CCC",
];

/// SITE subcommands, for `HELP SITE` and `SITE HELP`.
pub(super) const SITE_COMMANDS: &str =
    "HELP USERS ADDUSER DELUSER BAN UNBAN UNBLOCK QUOTA SIGNUP VISIBILITY CHMOD";

fn help(arg: Option<&str>) -> Reply {
    match arg {
        Some(verb) => {
            let verb = verb.trim().to_ascii_uppercase();
            if verb == "SITE" {
                Reply::new(codes::HELP, format!("SITE commands: {SITE_COMMANDS}"))
            } else if VERBS.contains(&verb.as_str()) {
                Reply::new(codes::HELP, format!("{verb} is supported."))
            } else {
                Reply::new(codes::PARAMETER_ERROR, format!("Unknown command {verb}."))
            }
        }
        None => {
            let body = VERBS.chunks(8).map(|c| c.join(" ")).collect();
            Reply::multi(
                codes::HELP,
                "The following commands are recognized:",
                body,
                "Help OK.",
            )
        }
    }
}
