//! The typed FTP command: one variant per verb (RFC 959 order, then extensions) and the parser
//! that turns one control line into it. No I/O, no disk, no session state.

use std::net::SocketAddr;

use crate::protocol::address;
use crate::protocol::reply::{Reply, codes};
use crate::secret::Password;

/// Representation type (RFC 959 3.1.1). EBCDIC is refused at parse time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferType {
    Ascii,
    Image,
}

/// `SITE` subcommands; the seed commands (ADDUSER, SIGNUP, ...) also arrive bare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SiteCommand {
    Help,
    Users,
    AddUser {
        name: String,
        password: Password,
    },
    DelUser(String),
    Ban(String),
    Unban(String),
    /// `SITE UNBLOCK IP`: lift a failed-login block (admins).
    Unblock(String),
    /// `SITE QUOTA [NAME]`: what a user owns against their limits (others: admins only).
    Quota(Option<String>),
    Signup {
        name: String,
        password: Password,
    },
    /// `VISIBILITY public|private [path]`; without a path: this session's upload default.
    Visibility {
        public: bool,
        path: Option<String>,
    },
    /// `CHMOD mode path`: the other-read bit (0o004) means public.
    Chmod {
        mode: u32,
        path: String,
    },
    Unknown(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    User(String),
    Pass(Password),
    Acct,
    Cwd(String),
    Cdup,
    Rein,
    Quit,
    Port(SocketAddr),
    Pasv,
    Type(TransferType),
    Stru(char),
    Mode(char),
    Retr(String),
    Stor(String),
    Stou(Option<String>),
    Appe(String),
    Allo,
    Rest(u64),
    Rnfr(String),
    Rnto(String),
    Abor,
    Dele(String),
    Rmd(String),
    Mkd(String),
    Pwd,
    List(Option<String>),
    Nlst(Option<String>),
    Site(SiteCommand),
    Syst,
    Stat(Option<String>),
    Help(Option<String>),
    Noop,
    // RFC 2389
    Feat,
    Opts(String),
    // RFC 2428
    Eprt(SocketAddr),
    /// `EPSV`, `EPSV 1|2` (network protocol) or `EPSV ALL`.
    Epsv(Option<String>),
    // RFC 3659 and the MFMT draft
    Size(String),
    Mdtm(String),
    Mlst(Option<String>),
    Mlsd(Option<String>),
    Mfmt {
        modify: String,
        path: String,
    },
    // RFC 2228 / 4217
    Auth(String),
    Pbsz(String),
    Prot(char),
    Ccc,
    /// A verb we do not know; kept for the `500` reply text.
    Unknown(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("Syntax error, command unrecognized.")]
    Empty,
    #[error("Command line not UTF-8.")]
    NotUtf8,
    #[error("{0} needs an argument.")]
    MissingArgument(&'static str),
    #[error("Syntax error in parameters or arguments.")]
    BadArgument,
    #[error("Command not implemented for that parameter.")]
    UnsupportedParameter,
}

impl ParseError {
    /// The reply a command line that does not parse gets (RFC 959 500/501/504).
    pub fn reply(&self) -> Reply {
        let code = match self {
            ParseError::Empty => codes::SYNTAX_ERROR,
            ParseError::NotUtf8 | ParseError::MissingArgument(_) | ParseError::BadArgument => {
                codes::PARAMETER_ERROR
            }
            ParseError::UnsupportedParameter => codes::PARAMETER_NOT_IMPLEMENTED,
        };
        Reply::new(code, self.to_string())
    }
}

/// Longest verb we know (`VISIBILITY`); longer ones are unknown without further work.
const MAX_VERB_LEN: usize = 10;

impl Command {
    /// Parses one line with its CR/LF already removed. Telnet IAC sequences (clients send
    /// `IAC IP IAC DM` before ABOR) are dropped first.
    pub fn parse(line: &[u8]) -> Result<Command, ParseError> {
        let cleaned = strip_telnet(line);
        let line = std::str::from_utf8(&cleaned).map_err(|_| ParseError::NotUtf8)?;
        let (verb, arg) = match line.find(' ') {
            Some(i) => (&line[..i], Some(&line[i + 1..])),
            None => (line, None),
        };
        if verb.is_empty() {
            return Err(ParseError::Empty);
        }
        // Upper-case the verb on the stack: no allocation per command for known verbs.
        let mut upper = [0u8; MAX_VERB_LEN];
        if verb.len() > MAX_VERB_LEN {
            return Ok(Command::Unknown(verb.to_ascii_uppercase()));
        }
        upper[..verb.len()].copy_from_slice(verb.as_bytes());
        upper[..verb.len()].make_ascii_uppercase();
        // Upper-casing ASCII bytes keeps UTF-8 valid, and `verb` holds whole characters.
        let verb = std::str::from_utf8(&upper[..verb.len()]).map_err(|_| ParseError::NotUtf8)?;
        Command::from_verb(verb, arg.filter(|a| !a.is_empty()))
    }

    /// The command for an upper-cased `verb` and its non-empty argument, if any.
    fn from_verb(verb: &str, arg: Option<&str>) -> Result<Command, ParseError> {
        let required = |name: &'static str| arg.ok_or(ParseError::MissingArgument(name));
        let path = |name: &'static str| required(name).map(str::to_owned);
        Ok(match verb {
            "USER" => Command::User(path("USER")?),
            "PASS" => Command::Pass(Password::new(arg.unwrap_or("").to_owned())),
            "ACCT" => Command::Acct,
            "CWD" | "XCWD" => Command::Cwd(path("CWD")?),
            "CDUP" | "XCUP" => Command::Cdup,
            "REIN" => Command::Rein,
            "QUIT" => Command::Quit,
            "PORT" => Command::Port(address::parse_port(required("PORT")?)?),
            "PASV" => Command::Pasv,
            "TYPE" => Command::Type(parse_type(required("TYPE")?)?),
            "STRU" => Command::Stru(single_letter(arg)?),
            "MODE" => Command::Mode(single_letter(arg)?),
            "RETR" => Command::Retr(path("RETR")?),
            "STOR" => Command::Stor(path("STOR")?),
            "STOU" => Command::Stou(arg.map(str::to_owned)),
            "APPE" => Command::Appe(path("APPE")?),
            "ALLO" => Command::Allo,
            "REST" => Command::Rest(
                required("REST")?
                    .trim()
                    .parse()
                    .map_err(|_| ParseError::BadArgument)?,
            ),
            "RNFR" => Command::Rnfr(path("RNFR")?),
            "RNTO" => Command::Rnto(path("RNTO")?),
            "ABOR" => Command::Abor,
            "DELE" => Command::Dele(path("DELE")?),
            "RMD" | "XRMD" => Command::Rmd(path("RMD")?),
            "MKD" | "XMKD" => Command::Mkd(path("MKD")?),
            "PWD" | "XPWD" => Command::Pwd,
            "LIST" => Command::List(arg.map(str::to_owned)),
            "NLST" => Command::Nlst(arg.map(str::to_owned)),
            "SITE" => {
                let (sub, rest) = split_site(required("SITE")?);
                Command::Site(parse_site(&sub.to_ascii_uppercase(), rest)?)
            }
            "ADDUSER" | "DELUSER" | "BAN" | "UNBAN" | "SIGNUP" | "VISIBILITY" => {
                Command::Site(parse_site(verb, arg.unwrap_or(""))?)
            }
            "SYST" => Command::Syst,
            "STAT" => Command::Stat(arg.map(str::to_owned)),
            "HELP" => Command::Help(arg.map(str::to_owned)),
            "NOOP" => Command::Noop,
            "FEAT" => Command::Feat,
            "OPTS" => Command::Opts(path("OPTS")?),
            "EPRT" => Command::Eprt(address::parse_eprt(required("EPRT")?)?),
            "EPSV" => Command::Epsv(arg.map(str::to_owned)),
            "SIZE" => Command::Size(path("SIZE")?),
            "MDTM" => Command::Mdtm(path("MDTM")?),
            "MLST" => Command::Mlst(arg.map(str::to_owned)),
            "MLSD" => Command::Mlsd(arg.map(str::to_owned)),
            "AUTH" => Command::Auth(path("AUTH")?.trim().to_ascii_uppercase()),
            "PBSZ" => Command::Pbsz(path("PBSZ")?.trim().to_owned()),
            "PROT" => Command::Prot(single_letter(arg)?),
            "CCC" => Command::Ccc,
            "MFMT" => parse_mfmt(required("MFMT")?)?,
            _ => Command::Unknown(verb.to_owned()),
        })
    }

    /// RETR, STOR, APPE or STOU: a command that moves a file over a data connection.
    pub fn is_transfer(&self) -> bool {
        matches!(
            self,
            Command::Retr(_) | Command::Stor(_) | Command::Appe(_) | Command::Stou(_)
        )
    }

    /// The verb as the client sent it in canonical form, for logs (never the PASS argument).
    pub fn verb(&self) -> &str {
        match self {
            Command::User(_) => "USER",
            Command::Pass(_) => "PASS",
            Command::Acct => "ACCT",
            Command::Cwd(_) => "CWD",
            Command::Cdup => "CDUP",
            Command::Rein => "REIN",
            Command::Quit => "QUIT",
            Command::Port(_) => "PORT",
            Command::Pasv => "PASV",
            Command::Type(_) => "TYPE",
            Command::Stru(_) => "STRU",
            Command::Mode(_) => "MODE",
            Command::Retr(_) => "RETR",
            Command::Stor(_) => "STOR",
            Command::Stou(_) => "STOU",
            Command::Appe(_) => "APPE",
            Command::Allo => "ALLO",
            Command::Rest(_) => "REST",
            Command::Rnfr(_) => "RNFR",
            Command::Rnto(_) => "RNTO",
            Command::Abor => "ABOR",
            Command::Dele(_) => "DELE",
            Command::Rmd(_) => "RMD",
            Command::Mkd(_) => "MKD",
            Command::Pwd => "PWD",
            Command::List(_) => "LIST",
            Command::Nlst(_) => "NLST",
            Command::Site(_) => "SITE",
            Command::Syst => "SYST",
            Command::Stat(_) => "STAT",
            Command::Help(_) => "HELP",
            Command::Noop => "NOOP",
            Command::Feat => "FEAT",
            Command::Opts(_) => "OPTS",
            Command::Eprt(_) => "EPRT",
            Command::Epsv(_) => "EPSV",
            Command::Size(_) => "SIZE",
            Command::Mdtm(_) => "MDTM",
            Command::Mlst(_) => "MLST",
            Command::Mlsd(_) => "MLSD",
            Command::Mfmt { .. } => "MFMT",
            Command::Auth(_) => "AUTH",
            Command::Pbsz(_) => "PBSZ",
            Command::Prot(_) => "PROT",
            Command::Ccc => "CCC",
            Command::Unknown(v) => v,
        }
    }
}

/// `SITE SUB REST`: the sub-command and the rest of the line.
fn split_site(arg: &str) -> (&str, &str) {
    arg.split_once(' ').unwrap_or((arg, ""))
}

/// Parses a SITE subcommand (`sub` upper-cased) and its arguments.
fn parse_site(sub: &str, rest: &str) -> Result<SiteCommand, ParseError> {
    let rest = rest.trim_start();
    let one_name = |what: &'static str| -> Result<String, ParseError> {
        let name = rest.trim();
        if name.is_empty() || name.contains(' ') {
            return Err(ParseError::MissingArgument(what));
        }
        Ok(name.to_owned())
    };
    let name_and_password = |what: &'static str| -> Result<(String, Password), ParseError> {
        match rest.split_once(' ') {
            Some((name, pw)) if !name.is_empty() && !pw.is_empty() => {
                Ok((name.to_owned(), Password::new(pw.to_owned())))
            }
            _ => Err(ParseError::MissingArgument(what)),
        }
    };
    Ok(match sub {
        "HELP" => SiteCommand::Help,
        "USERS" => SiteCommand::Users,
        "ADDUSER" => {
            let (name, password) = name_and_password("ADDUSER")?;
            SiteCommand::AddUser { name, password }
        }
        "SIGNUP" => {
            let (name, password) = name_and_password("SIGNUP")?;
            SiteCommand::Signup { name, password }
        }
        "DELUSER" => SiteCommand::DelUser(one_name("DELUSER")?),
        "BAN" => SiteCommand::Ban(one_name("BAN")?),
        "UNBAN" => SiteCommand::Unban(one_name("UNBAN")?),
        "UNBLOCK" => SiteCommand::Unblock(one_name("UNBLOCK")?),
        "QUOTA" if rest.trim().is_empty() => SiteCommand::Quota(None),
        "QUOTA" => SiteCommand::Quota(Some(one_name("QUOTA")?)),
        "VISIBILITY" => parse_visibility(rest)?,
        "CHMOD" => parse_chmod(rest)?,
        other => SiteCommand::Unknown(other.to_owned()),
    })
}

/// `SITE VISIBILITY public|private [PATH]`.
fn parse_visibility(rest: &str) -> Result<SiteCommand, ParseError> {
    let (word, path) = rest.split_once(' ').unwrap_or((rest, ""));
    let public = match word.to_ascii_lowercase().as_str() {
        "public" => true,
        "private" => false,
        "" => return Err(ParseError::MissingArgument("VISIBILITY")),
        _ => return Err(ParseError::BadArgument),
    };
    let path = Some(path.trim_start())
        .filter(|p| !p.is_empty())
        .map(str::to_owned);
    Ok(SiteCommand::Visibility { public, path })
}

/// `SITE CHMOD OCTAL PATH`.
fn parse_chmod(rest: &str) -> Result<SiteCommand, ParseError> {
    let (mode, path) = rest
        .split_once(' ')
        .ok_or(ParseError::MissingArgument("CHMOD"))?;
    let path = path.trim_start();
    if mode.is_empty() || mode.len() > 4 || path.is_empty() {
        return Err(ParseError::BadArgument);
    }
    let mode = u32::from_str_radix(mode, 8).map_err(|_| ParseError::BadArgument)?;
    Ok(SiteCommand::Chmod {
        mode,
        path: path.to_owned(),
    })
}

fn parse_type(arg: &str) -> Result<TransferType, ParseError> {
    let mut parts = arg.split_ascii_whitespace();
    let kind = parts
        .next()
        .ok_or(ParseError::BadArgument)?
        .to_ascii_uppercase();
    let param = parts.next().map(str::to_ascii_uppercase);
    match (kind.as_str(), param.as_deref()) {
        ("A", None | Some("N")) => Ok(TransferType::Ascii),
        ("I", None) | ("L", Some("8")) => Ok(TransferType::Image),
        ("A" | "E" | "L", _) => Err(ParseError::UnsupportedParameter),
        _ => Err(ParseError::BadArgument),
    }
}

fn single_letter(arg: Option<&str>) -> Result<char, ParseError> {
    let arg = arg.ok_or(ParseError::BadArgument)?.trim();
    let mut chars = arg.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) => Ok(c.to_ascii_uppercase()),
        _ => Err(ParseError::BadArgument),
    }
}

/// `MFMT YYYYMMDDHHMMSS path`.
fn parse_mfmt(arg: &str) -> Result<Command, ParseError> {
    let (modify, path) = arg.split_once(' ').ok_or(ParseError::BadArgument)?;
    if modify.len() < 14
        || !modify.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        || path.is_empty()
    {
        return Err(ParseError::BadArgument);
    }
    Ok(Command::Mfmt {
        modify: modify.to_owned(),
        path: path.to_owned(),
    })
}

/// Removes Telnet IAC command sequences (RFC 854): `IAC IAC` is a literal 0xFF, `IAC
/// WILL/WONT/DO/DONT opt` and `IAC x` are dropped.
fn strip_telnet(line: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    const IAC: u8 = 0xFF;
    if !line.contains(&IAC) {
        return std::borrow::Cow::Borrowed(line);
    }
    let mut out = Vec::with_capacity(line.len());
    let mut i = 0;
    while i < line.len() {
        match (line[i], line.get(i + 1)) {
            (IAC, Some(&IAC)) => {
                out.push(IAC);
                i += 2;
            }
            (IAC, Some(&(0xFB..=0xFE))) => i += 3,
            (IAC, Some(_)) => i += 2,
            (IAC, None) => i += 1,
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbs_are_case_insensitive_and_keep_argument_spaces() {
        assert_eq!(
            Command::parse(b"retr my file.txt").unwrap(),
            Command::Retr("my file.txt".into())
        );
        assert_eq!(Command::parse(b"XPWD").unwrap(), Command::Pwd);
    }

    #[test]
    fn abor_with_telnet_sync() {
        assert_eq!(
            Command::parse(b"\xff\xf4\xff\xf2ABOR").unwrap(),
            Command::Abor
        );
    }

    #[test]
    fn missing_and_bad_arguments() {
        assert_eq!(
            Command::parse(b"RETR"),
            Err(ParseError::MissingArgument("RETR"))
        );
        assert_eq!(Command::parse(b"REST x"), Err(ParseError::BadArgument));
        assert_eq!(
            Command::parse(b"TYPE E"),
            Err(ParseError::UnsupportedParameter)
        );
        assert_eq!(
            Command::parse(b"TYPE A N").unwrap(),
            Command::Type(TransferType::Ascii)
        );
        assert_eq!(
            Command::parse(b"TYPE L 8").unwrap(),
            Command::Type(TransferType::Image)
        );
        assert_eq!(Command::parse(b"\xc3("), Err(ParseError::NotUtf8));
        assert_eq!(Command::parse(b""), Err(ParseError::Empty));
    }

    #[test]
    fn unknown_verb() {
        assert_eq!(
            Command::parse(b"FOO bar").unwrap(),
            Command::Unknown("FOO".into())
        );
    }

    #[test]
    fn pass_is_redacted_in_debug() {
        let c = Command::parse(b"PASS hunter2").unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    #[test]
    fn site_and_seed_commands() {
        assert_eq!(
            Command::parse(b"SITE CHMOD 640 a b").unwrap(),
            Command::Site(SiteCommand::Chmod {
                mode: 0o640,
                path: "a b".into()
            })
        );
        assert_eq!(
            Command::parse(b"visibility private x.txt").unwrap(),
            Command::Site(SiteCommand::Visibility {
                public: false,
                path: Some("x.txt".into())
            })
        );
        assert_eq!(
            Command::parse(b"SITE VISIBILITY public").unwrap(),
            Command::Site(SiteCommand::Visibility {
                public: true,
                path: None
            })
        );
        assert_eq!(
            Command::parse(b"BAN bob").unwrap(),
            Command::Site(SiteCommand::Ban("bob".into()))
        );
        assert_eq!(
            Command::parse(b"ADDUSER carol"),
            Err(ParseError::MissingArgument("ADDUSER"))
        );
        assert_eq!(
            Command::parse(b"SITE CHMOD 9z x"),
            Err(ParseError::BadArgument)
        );
        let signup = Command::parse(b"SIGNUP dave pass word").unwrap();
        assert_eq!(
            signup,
            Command::Site(SiteCommand::Signup {
                name: "dave".into(),
                password: Password::new("pass word".into())
            })
        );
        assert!(!format!("{signup:?}").contains("pass word"));
        assert_eq!(
            Command::parse(b"SITE FOO").unwrap(),
            Command::Site(SiteCommand::Unknown("FOO".into()))
        );
        assert_eq!(
            Command::parse(b"SITE QUOTA").unwrap(),
            Command::Site(SiteCommand::Quota(None))
        );
        assert_eq!(
            Command::parse(b"site quota bob").unwrap(),
            Command::Site(SiteCommand::Quota(Some("bob".into())))
        );
    }

    #[test]
    fn mfmt() {
        assert_eq!(
            Command::parse(b"MFMT 20200101120000 a b").unwrap(),
            Command::Mfmt {
                modify: "20200101120000".into(),
                path: "a b".into()
            }
        );
        assert_eq!(Command::parse(b"MFMT 2020 a"), Err(ParseError::BadArgument));
    }
}
