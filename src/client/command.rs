//! What the user typed, as types: [`ClientCommand`] from one line (a URL becomes a
//! [`Target`] in `url.rs`), and scripts (`-c "a; b"`) split into lines. Like the server's `protocol::command`, this
//! parses only: no network, no disk, no terminal. The command table [`COMMANDS`] is the one
//! list that `help` and tab completion read.

use std::fmt;

use crate::auth::Password;
use crate::client::connection::{DataMode, TransferType};

pub use crate::client::url::{FTP_PORT, IMPLICIT_PORT, Target, UrlError, redact_url};

/// One command of the table: its name, aliases (the seeds' words), usage and a sentence.
#[derive(Debug)]
pub struct Spec {
    pub name: &'static str,
    pub aliases: &'static [&'static str],
    pub usage: &'static str,
    pub about: &'static str,
}

/// Every command, in the order `help` lists them.
#[rustfmt::skip]
pub const COMMANDS: &[Spec] = &[
    Spec { name: "open", aliases: &[], usage: "open [[ftp://|ftps://][USER@]HOST[:PORT]]", about: "connect (and log in when a user is given); a bare open reconnects to the last server" },
    Spec { name: "user", aliases: &["login"], usage: "user NAME [PASSWORD]", about: "log in (password from FERROFTP_PASSWORD or a hidden prompt when omitted)" },
    Spec { name: "ls", aliases: &["dir"], usage: "ls [PATH]", about: "list a directory" },
    Spec { name: "cd", aliases: &[], usage: "cd PATH", about: "change the remote directory" },
    Spec { name: "cdup", aliases: &[], usage: "cdup", about: "go to the parent directory" },
    Spec { name: "pwd", aliases: &[], usage: "pwd", about: "print the remote directory" },
    Spec { name: "lcd", aliases: &[], usage: "lcd [DIR]", about: "change the local directory" },
    Spec { name: "lls", aliases: &[], usage: "lls [DIR]", about: "list a local directory" },
    Spec { name: "!", aliases: &[], usage: "!COMMAND", about: "run a local shell command (a bare ! starts a shell)" },
    Spec { name: "get", aliases: &[], usage: "get [-c] [-r] REMOTE [LOCAL]", about: "download (default into ./downloads/); -c resumes, -r a whole tree" },
    Spec { name: "put", aliases: &[], usage: "put [-c|-r] LOCAL [REMOTE] [public|private]", about: "upload; -c resumes, -r a whole tree; public/private sets visibility (ferroftp)" },
    Spec { name: "mget", aliases: &[], usage: "mget PATTERN...", about: "download the files matching glob patterns" },
    Spec { name: "mput", aliases: &[], usage: "mput PATTERN...", about: "upload the local files matching glob patterns" },
    Spec { name: "mkdir", aliases: &[], usage: "mkdir PATH", about: "create a directory" },
    Spec { name: "rmdir", aliases: &[], usage: "rmdir PATH", about: "remove an empty directory" },
    Spec { name: "rm", aliases: &["delete"], usage: "rm PATH", about: "delete a file" },
    Spec { name: "rename", aliases: &[], usage: "rename FROM TO", about: "rename or move" },
    Spec { name: "mode", aliases: &[], usage: "mode pasv|port", about: "passive (EPSV, then PASV) or active (PORT/EPRT) data connections" },
    Spec { name: "ascii", aliases: &[], usage: "ascii", about: "text transfers (TYPE A)" },
    Spec { name: "binary", aliases: &[], usage: "binary", about: "byte-exact transfers (TYPE I, the default)" },
    Spec { name: "site", aliases: &[], usage: "site ARGS...", about: "send SITE ARGS" },
    Spec { name: "quote", aliases: &[], usage: "quote COMMAND...", about: "send a raw control command" },
    Spec { name: "signup", aliases: &[], usage: "signup NAME [PASSWORD]", about: "create an account (servers with signup enabled)" },
    Spec { name: "adduser", aliases: &[], usage: "adduser NAME [PASSWORD]", about: "create an account (admins)" },
    Spec { name: "deluser", aliases: &[], usage: "deluser NAME", about: "delete an account (admins)" },
    Spec { name: "ban", aliases: &[], usage: "ban NAME", about: "ban an account (admins)" },
    Spec { name: "unban", aliases: &[], usage: "unban NAME", about: "lift a ban (admins)" },
    Spec { name: "show", aliases: &[], usage: "show directories | show directory NAME", about: "list / or one top-level directory" },
    Spec { name: "download", aliases: &[], usage: "download file NAME", about: "download NAME into ./downloads/" },
    Spec { name: "close", aliases: &[], usage: "close", about: "disconnect, stay in the client" },
    Spec { name: "quit", aliases: &["!disconnect", "exit", "bye"], usage: "quit", about: "disconnect and leave" },
    Spec { name: "help", aliases: &["?"], usage: "help [COMMAND]", about: "this list, or one command" },
];

/// The table entry for `word` (a name or an alias, any case).
pub fn spec(word: &str) -> Option<&'static Spec> {
    let word = word.to_ascii_lowercase();
    COMMANDS
        .iter()
        .find(|s| s.name == word || s.aliases.contains(&word.as_str()))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visibility {
    Public,
    Private,
}

impl Visibility {
    pub fn word(self) -> &'static str {
        match self {
            Visibility::Public => "public",
            Visibility::Private => "private",
        }
    }

    fn parse(word: &str) -> Option<Visibility> {
        match word.to_ascii_lowercase().as_str() {
            "public" => Some(Visibility::Public),
            "private" => Some(Visibility::Private),
            _ => None,
        }
    }
}

/// One parsed command. Passwords are [`Password`]s: `Debug` and `Display` never show them.
#[derive(Debug, Clone)]
pub enum ClientCommand {
    /// `open URL`, or a bare `open`: the last server again.
    Open(Option<String>),
    User {
        name: String,
        password: Option<Password>,
    },
    Ls(Option<String>),
    Cd(String),
    Cdup,
    Pwd,
    Lcd(Option<String>),
    /// `lls [DIR]`: the local directory.
    Lls(Option<String>),
    /// `!COMMAND`: a local shell command (a bare `!`, an interactive shell).
    Shell(String),
    Get {
        remote: String,
        local: Option<String>,
        resume: bool,
        recursive: bool,
    },
    Put {
        local: String,
        remote: Option<String>,
        visibility: Option<Visibility>,
        recursive: bool,
        /// `-c`: continue an upload the server has part of (`REST` + `STOR`).
        resume: bool,
    },
    Mget(Vec<String>),
    Mput(Vec<String>),
    Mkdir(String),
    Rmdir(String),
    Delete(String),
    Rename {
        from: String,
        to: String,
    },
    Mode(DataMode),
    Type(TransferType),
    Site(String),
    Quote(String),
    Signup {
        name: String,
        password: Option<Password>,
    },
    AddUser {
        name: String,
        password: Option<Password>,
    },
    DelUser(String),
    Ban(String),
    Unban(String),
    ShowDirectories,
    ShowDirectory(String),
    DownloadFile(String),
    Close,
    Quit,
    Help(Option<String>),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("unknown command {0:?} (try help)")]
    Unknown(String),
    #[error("usage: {0}")]
    Usage(&'static str),
    #[error("unterminated quote")]
    Quote,
}

/// Splits a line into words: blanks separate, "double" and 'single' quotes group, and a
/// backslash escapes the next character outside single quotes.
pub fn words(line: &str) -> Result<Vec<String>, ParseError> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some('\''), '\'') | (Some('"'), '"') => quote = None,
            (Some('\''), c) => word.push(c),
            (_, '\\') => {
                word.push(chars.next().unwrap_or('\\'));
                in_word = true;
            }
            (Some(_), c) => word.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (None, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return Err(ParseError::Quote);
    }
    if in_word {
        out.push(word);
    }
    Ok(out)
}

/// Splits a script (`-c` text or a line of stdin) at `;` and newlines outside quotes;
/// blank pieces and `#` comments are dropped. A `!COMMAND` piece runs to the end of its line:
/// its `;` belong to the shell (`!ls; rm x` must not remove `x` on the server).
pub fn split_script(script: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut piece = String::new();
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for c in script.chars() {
        // `!disconnect` is the seeds' quit, not a shell command.
        let shell = piece.trim_start().starts_with('!') && spec(piece.trim()).is_none();
        if shell && quote.is_none() && c == ';' {
            piece.push(c);
            continue;
        }
        if escaped {
            escaped = false;
        } else if c == '\\' && quote != Some('\'') {
            escaped = true;
        } else if let Some(q) = quote {
            if c == q {
                quote = None;
            }
        } else if c == '\'' || c == '"' {
            quote = Some(c);
        } else if c == ';' || c == '\n' {
            out.push(std::mem::take(&mut piece));
            continue;
        }
        piece.push(c);
    }
    out.push(piece);
    out.into_iter()
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty() && !p.starts_with('#'))
        .collect()
}

/// A command's words after the verb, with the usage line its errors show.
struct Words {
    words: Vec<String>,
    usage: &'static str,
}

impl Words {
    fn usage(&self) -> ParseError {
        ParseError::Usage(self.usage)
    }

    /// Exactly one word.
    fn one(&self) -> Result<String, ParseError> {
        match self.words.as_slice() {
            [a] => Ok(a.clone()),
            _ => Err(self.usage()),
        }
    }

    /// No word or one.
    fn optional(&self) -> Result<Option<String>, ParseError> {
        match self.words.as_slice() {
            [] => Ok(None),
            [a] => Ok(Some(a.clone())),
            _ => Err(self.usage()),
        }
    }

    /// Exactly two words, made into the command by `make`.
    fn two(
        &self,
        make: impl FnOnce(String, String) -> ClientCommand,
    ) -> Result<ClientCommand, ParseError> {
        match self.words.as_slice() {
            [a, b] => Ok(make(a.clone(), b.clone())),
            _ => Err(self.usage()),
        }
    }

    /// No word: the command as it is.
    fn none(&self, cmd: ClientCommand) -> Result<ClientCommand, ParseError> {
        if self.words.is_empty() {
            Ok(cmd)
        } else {
            Err(self.usage())
        }
    }

    /// `NAME [PASSWORD]`, made into the command by `make`.
    fn account(
        &self,
        make: impl FnOnce(String, Option<Password>) -> ClientCommand,
    ) -> Result<ClientCommand, ParseError> {
        match self.words.as_slice() {
            [name] => Ok(make(name.clone(), None)),
            [name, password] => Ok(make(name.clone(), Some(Password::new(password.clone())))),
            _ => Err(self.usage()),
        }
    }
}

/// `mode passive|active` (or pasv, epsv, port, eprt).
fn parse_mode(args: &Words) -> Result<ClientCommand, ParseError> {
    match args.one()?.to_ascii_lowercase().as_str() {
        "pasv" | "passive" | "epsv" => Ok(ClientCommand::Mode(DataMode::Passive)),
        "port" | "active" | "eprt" => Ok(ClientCommand::Mode(DataMode::Active)),
        _ => Err(args.usage()),
    }
}

/// `get [-c] [-r] REMOTE [LOCAL]`.
fn parse_get(args: &Words) -> Result<ClientCommand, ParseError> {
    let (flags, rest) = flags(&args.words, "cr").ok_or_else(|| args.usage())?;
    match rest {
        [remote] | [remote, _] => Ok(ClientCommand::Get {
            remote: remote.clone(),
            local: rest.get(1).cloned(),
            resume: flags.contains(&'c'),
            recursive: flags.contains(&'r'),
        }),
        _ => Err(args.usage()),
    }
}

/// `put [-c|-r] LOCAL [REMOTE] [public|private]`.
fn parse_put(args: &Words) -> Result<ClientCommand, ParseError> {
    let (flags, rest) = flags(&args.words, "rc").ok_or_else(|| args.usage())?;
    // `put x private`: a second word that is a visibility is one (seed 000);
    // a remote file really named so is `put x ./private`.
    let (local, remote, visibility) = match rest {
        [l] => (l, None, None),
        [l, v] if Visibility::parse(v).is_some() => (l, None, Visibility::parse(v)),
        [l, r] => (l, Some(r.clone()), None),
        [l, r, v] => (
            l,
            Some(r.clone()),
            Some(Visibility::parse(v).ok_or_else(|| args.usage())?),
        ),
        _ => return Err(args.usage()),
    };
    let (recursive, resume) = (flags.contains(&'r'), flags.contains(&'c'));
    if recursive && resume {
        return Err(args.usage());
    }
    Ok(ClientCommand::Put {
        local: local.clone(),
        remote,
        visibility,
        recursive,
        resume,
    })
}

/// The seeds' phrases: `show directories`, `show directory NAME`, `download file NAME`.
fn parse_seed_phrase(verb: &str, args: &Words) -> Result<ClientCommand, ParseError> {
    let is = |word: &String, expected: &str| word.eq_ignore_ascii_case(expected);
    match (verb, args.words.as_slice()) {
        ("show", [w]) if is(w, "directories") => Ok(ClientCommand::ShowDirectories),
        ("show", [w, name]) if is(w, "directory") => Ok(ClientCommand::ShowDirectory(name.clone())),
        ("download", [w, name]) if is(w, "file") => Ok(ClientCommand::DownloadFile(name.clone())),
        _ => Err(args.usage()),
    }
}

impl ClientCommand {
    /// Parses one command line (already split from a script).
    pub fn parse(line: &str) -> Result<ClientCommand, ParseError> {
        let line = line.trim();
        // `!COMMAND` runs a shell command, but `!disconnect` is the seeds' word for quit.
        if let Some(command) = line.strip_prefix('!')
            && spec(line.split_whitespace().next().unwrap_or("")).is_none_or(|s| s.name == "!")
        {
            return Ok(ClientCommand::Shell(command.trim().to_owned()));
        }
        let (first, rest) = line
            .split_once(char::is_whitespace)
            .map(|(a, b)| (a, b.trim()))
            .unwrap_or((line, ""));
        let spec = spec(first).ok_or_else(|| ParseError::Unknown(first.to_owned()))?;
        // `site` and `quote` pass the rest of the line through unchanged.
        if matches!(spec.name, "site" | "quote") {
            if rest.is_empty() {
                return Err(ParseError::Usage(spec.usage));
            }
            return Ok(if spec.name == "site" {
                ClientCommand::Site(rest.to_owned())
            } else {
                ClientCommand::Quote(rest.to_owned())
            });
        }
        let args = Words {
            words: words(rest)?,
            usage: spec.usage,
        };
        Ok(match spec.name {
            "open" => ClientCommand::Open(args.optional()?),
            "user" => args.account(|name, password| ClientCommand::User { name, password })?,
            "ls" => ClientCommand::Ls(args.optional()?),
            "cd" => ClientCommand::Cd(args.one()?),
            "cdup" => args.none(ClientCommand::Cdup)?,
            "pwd" => args.none(ClientCommand::Pwd)?,
            "lcd" => ClientCommand::Lcd(args.optional()?),
            "lls" => ClientCommand::Lls(args.optional()?),
            "get" => parse_get(&args)?,
            "put" => parse_put(&args)?,
            "mget" | "mput" if args.words.is_empty() => return Err(args.usage()),
            "mget" => ClientCommand::Mget(args.words),
            "mput" => ClientCommand::Mput(args.words),
            "mkdir" => ClientCommand::Mkdir(args.one()?),
            "rmdir" => ClientCommand::Rmdir(args.one()?),
            "rm" => ClientCommand::Delete(args.one()?),
            "rename" => args.two(|from, to| ClientCommand::Rename { from, to })?,
            "mode" => parse_mode(&args)?,
            "ascii" => args.none(ClientCommand::Type(TransferType::Ascii))?,
            "binary" => args.none(ClientCommand::Type(TransferType::Binary))?,
            "signup" => args.account(|name, password| ClientCommand::Signup { name, password })?,
            "adduser" => {
                args.account(|name, password| ClientCommand::AddUser { name, password })?
            }
            "deluser" => ClientCommand::DelUser(args.one()?),
            "ban" => ClientCommand::Ban(args.one()?),
            "unban" => ClientCommand::Unban(args.one()?),
            "show" | "download" => parse_seed_phrase(spec.name, &args)?,
            "close" => args.none(ClientCommand::Close)?,
            "quit" => args.none(ClientCommand::Quit)?,
            "help" => ClientCommand::Help(args.optional()?),
            other => return Err(ParseError::Unknown(other.to_owned())),
        })
    }

    /// True when the line carried a password: such lines stay out of the history file.
    pub fn has_secret(&self) -> bool {
        matches!(
            self,
            ClientCommand::User {
                password: Some(_),
                ..
            } | ClientCommand::Signup {
                password: Some(_),
                ..
            } | ClientCommand::AddUser {
                password: Some(_),
                ..
            }
        ) || matches!(self, ClientCommand::Open(Some(url)) if url.contains('@'))
            || matches!(self, ClientCommand::Quote(q) | ClientCommand::Site(q)
                if q.to_ascii_uppercase().starts_with("PASS")
                    || q.to_ascii_uppercase().contains("ADDUSER")
                    || q.to_ascii_uppercase().contains("SIGNUP"))
    }
}

/// Leading `-x` flags among `allowed`, then the remaining words.
fn flags<'a>(args: &'a [String], allowed: &str) -> Option<(Vec<char>, &'a [String])> {
    let mut found = Vec::new();
    let mut i = 0;
    while let Some(arg) = args.get(i) {
        let Some(letters) = arg.strip_prefix('-').filter(|l| !l.is_empty()) else {
            break;
        };
        if !letters.chars().all(|c| allowed.contains(c)) {
            return None;
        }
        found.extend(letters.chars());
        i += 1;
    }
    Some((found, &args[i..]))
}

/// What an error message may say about a command: never a password.
impl fmt::Display for ClientCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientCommand::Open(url) => write!(
                f,
                "open {}",
                url.as_deref().map(redact_url).unwrap_or_default()
            ),
            ClientCommand::User { name, .. } => write!(f, "user {name}"),
            ClientCommand::Ls(p) => write!(f, "ls {}", p.as_deref().unwrap_or("")),
            ClientCommand::Cd(p) => write!(f, "cd {p}"),
            ClientCommand::Cdup => f.write_str("cdup"),
            ClientCommand::Pwd => f.write_str("pwd"),
            ClientCommand::Lcd(d) => write!(f, "lcd {}", d.as_deref().unwrap_or("")),
            ClientCommand::Lls(d) => write!(f, "lls {}", d.as_deref().unwrap_or("")),
            ClientCommand::Shell(c) => write!(f, "!{c}"),
            ClientCommand::Get { remote, .. } => write!(f, "get {remote}"),
            ClientCommand::Put { local, .. } => write!(f, "put {local}"),
            ClientCommand::Mget(p) => write!(f, "mget {}", p.join(" ")),
            ClientCommand::Mput(p) => write!(f, "mput {}", p.join(" ")),
            ClientCommand::Mkdir(p) => write!(f, "mkdir {p}"),
            ClientCommand::Rmdir(p) => write!(f, "rmdir {p}"),
            ClientCommand::Delete(p) => write!(f, "rm {p}"),
            ClientCommand::Rename { from, to } => write!(f, "rename {from} {to}"),
            ClientCommand::Mode(DataMode::Passive) => f.write_str("mode pasv"),
            ClientCommand::Mode(DataMode::Active) => f.write_str("mode port"),
            ClientCommand::Type(TransferType::Ascii) => f.write_str("ascii"),
            ClientCommand::Type(TransferType::Binary) => f.write_str("binary"),
            ClientCommand::Site(s) => {
                let verb = s.split_whitespace().next().unwrap_or("");
                write!(f, "site {verb}")
            }
            ClientCommand::Quote(q) => {
                let verb = q.split_whitespace().next().unwrap_or("");
                write!(f, "quote {verb}")
            }
            ClientCommand::Signup { name, .. } => write!(f, "signup {name}"),
            ClientCommand::AddUser { name, .. } => write!(f, "adduser {name}"),
            ClientCommand::DelUser(n) => write!(f, "deluser {n}"),
            ClientCommand::Ban(n) => write!(f, "ban {n}"),
            ClientCommand::Unban(n) => write!(f, "unban {n}"),
            ClientCommand::ShowDirectories => f.write_str("show directories"),
            ClientCommand::ShowDirectory(n) => write!(f, "show directory {n}"),
            ClientCommand::DownloadFile(n) => write!(f, "download file {n}"),
            ClientCommand::Close => f.write_str("close"),
            ClientCommand::Quit => f.write_str("quit"),
            ClientCommand::Help(_) => f.write_str("help"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::connection::Security;

    /// Commands compare by `Debug` (passwords print redacted).
    fn parsed(line: &str) -> String {
        format!("{:?}", ClientCommand::parse(line).unwrap())
    }

    fn dbg(cmd: ClientCommand) -> String {
        format!("{cmd:?}")
    }

    #[test]
    fn parses_commands_and_aliases() {
        assert_eq!(parsed("dir"), dbg(ClientCommand::Ls(None)));
        assert_eq!(
            parsed("delete 'a b'"),
            dbg(ClientCommand::Delete("a b".into()))
        );
        assert_eq!(
            parsed("get -c x.bin"),
            dbg(ClientCommand::Get {
                remote: "x.bin".into(),
                local: None,
                resume: true,
                recursive: false
            })
        );
        assert_eq!(
            parsed("put x private"),
            dbg(ClientCommand::Put {
                local: "x".into(),
                remote: None,
                visibility: Some(Visibility::Private),
                recursive: false,
                resume: false
            })
        );
        assert_eq!(
            parsed("put -c x y PUBLIC"),
            dbg(ClientCommand::Put {
                local: "x".into(),
                remote: Some("y".into()),
                visibility: Some(Visibility::Public),
                recursive: false,
                resume: true
            })
        );
        assert_eq!(
            parsed("show directory Public"),
            dbg(ClientCommand::ShowDirectory("Public".into()))
        );
        assert_eq!(
            parsed("download file a.txt"),
            dbg(ClientCommand::DownloadFile("a.txt".into()))
        );
        assert_eq!(parsed("!disconnect"), dbg(ClientCommand::Quit));
        assert_eq!(parsed("!ls -l"), dbg(ClientCommand::Shell("ls -l".into())));
        assert_eq!(
            split_script("pwd; !ls; rm x\nls; !disconnect; pwd"),
            ["pwd", "!ls; rm x", "ls", "!disconnect", "pwd"],
            "a shell piece keeps its ;"
        );
        assert_eq!(parsed("!"), dbg(ClientCommand::Shell(String::new())));
        assert_eq!(parsed("open"), dbg(ClientCommand::Open(None)));
        assert_eq!(
            parsed("lls /tmp"),
            dbg(ClientCommand::Lls(Some("/tmp".into())))
        );
        assert_eq!(
            parsed("mode port"),
            dbg(ClientCommand::Mode(DataMode::Active))
        );
        assert_eq!(
            parsed("quote  SYST  x"),
            dbg(ClientCommand::Quote("SYST  x".into()))
        );
        assert_eq!(
            ClientCommand::parse("frobnicate").unwrap_err(),
            ParseError::Unknown("frobnicate".into())
        );
        assert!(matches!(
            ClientCommand::parse("rename a"),
            Err(ParseError::Usage(_))
        ));
        assert!(matches!(
            ClientCommand::parse("get -z a"),
            Err(ParseError::Usage(_))
        ));
    }

    #[test]
    fn secrets_stay_out_of_messages() {
        let cmd = ClientCommand::parse("adduser bob s3cret").unwrap();
        assert!(cmd.has_secret());
        assert!(!cmd.to_string().contains("s3cret"));
        let open = ClientCommand::parse("open ftp://a:s3cret@h").unwrap();
        assert!(!open.to_string().contains("s3cret"));
        assert!(!ClientCommand::parse("ls").unwrap().has_secret());
    }

    #[test]
    fn scripts_split_outside_quotes() {
        assert_eq!(
            split_script("ls; put 'a;b' ;\n# note\n pwd ;;"),
            vec!["ls", "put 'a;b'", "pwd"]
        );
    }

    #[test]
    fn parses_urls() {
        let t = Target::parse("ftps://alice:p%40ss@127.0.0.1:2121/alice/sub", false).unwrap();
        assert_eq!(t.security, Security::Explicit);
        assert_eq!(t.endpoint.key(), "127.0.0.1:2121");
        assert_eq!(t.user.as_deref(), Some("alice"));
        assert_eq!(t.password.as_ref().map(|p| p.expose()), Some("p@ss"));
        assert_eq!(t.path.as_deref(), Some("/alice/sub"));
        let t = Target::parse("example.org", true).unwrap();
        assert_eq!(t.security, Security::Implicit);
        assert_eq!(t.endpoint.port, IMPLICIT_PORT);
        let t = Target::parse("ftp://[::1]:21", false).unwrap();
        assert_eq!(t.endpoint.host, "::1");
        assert!(Target::parse("http://x", false).is_err());
        assert!(Target::parse("ftp://x:99999", false).is_err());
        assert!(Target::parse("ftp://", false).is_err());
    }
}
