//! `ferroftp client`: a terminal FTP/FTPS client for any server. [`run`] is the front door:
//! it connects to the URL given, then either runs a script (`-c "a; b"` or lines on a
//! non-terminal stdin: plain output, stop at the first failure, exit non-zero) or a REPL
//! (rustyline editing, history, completion, progress bars).
//!
//! - [`command`]: lines → [`command::ClientCommand`], URLs → [`command::Target`].
//! - [`connection`]: the suppaftp wrapper shared with the web client.
//! - [`trust`]: certificate pinning (trust on first use).
//! - [`progress`]: bars and summaries.
//! - `session`: connecting, the certificate question, login and passwords.
//! - `files`: transfers, trees and wildcards, and the local names downloads take.
//! - `complete`: Tab completion (commands, remote names asked of the server, local files).
//!
//! This file owns the loop a person sees: the script runner, the REPL with its history, the
//! prompt, and the dispatch of each command.

pub mod command;
mod complete;
pub mod connection;
mod files;
pub mod progress;
mod session;
pub mod trust;
pub mod url;
mod watch;

use std::fs;
use std::io::{self, BufRead, IsTerminal};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, anyhow};
use clap::Args;
use rustyline::Editor;
use rustyline::error::ReadlineError;
use rustyline::history::DefaultHistory;

use crate::client::command::{COMMANDS, ClientCommand, Target};
use crate::client::connection::{Connection, Error as FtpError, TransferType};
use crate::client::trust::KnownHosts;
use crate::secret::Password;
use complete::ClientHelper;

/// The environment variable a password may come from.
pub(super) const PASSWORD_ENV: &str = "FERROFTP_PASSWORD";
/// History file name under the config dir, and how many lines it keeps.
const HISTORY: &str = "history";
const HISTORY_LINES: usize = 1000;

/// `ferroftp client` flags.
#[derive(Debug, Args)]
pub struct ClientArgs {
    /// Server to open: [ftp://|ftps://][USER[:PASSWORD]@]HOST[:PORT][/DIR].
    pub url: Option<String>,
    /// Commands to run, separated by `;`; then exit (non-zero at the first failure).
    #[arg(short = 'c', long = "command", value_name = "CMDS")]
    pub commands: Option<String>,
    /// Accept any TLS certificate (no pinning).
    #[arg(long)]
    pub insecure: bool,
    /// Implicit TLS (TLS from the first byte, port 990 style).
    #[arg(long)]
    pub implicit: bool,
    /// User to log in as (the password comes from FERROFTP_PASSWORD or a hidden prompt).
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,
    /// Seconds to wait for a connection and the server's greeting.
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    pub timeout: u64,
}

/// Runs the client; an error is the one line `main` prints before exiting non-zero.
pub fn run(args: ClientArgs) -> anyhow::Result<()> {
    quiet_library_logs();
    let stdin_tty = io::stdin().is_terminal();
    let interactive = args.commands.is_none() && stdin_tty;
    let mut client = Client {
        stage: Stage::Command,
        conn: None,
        target: None,
        logged_in: None,
        cwd: String::new(),
        names: Arc::new(Mutex::new(Vec::new())),
        bars: interactive && io::stdout().is_terminal() && io::stderr().is_terminal(),
        can_prompt: stdin_tty,
        insecure: args.insecure,
        implicit: args.implicit,
        timeout: Duration::from_secs(args.timeout.max(1)),
        known_hosts: KnownHosts::load_default().unwrap_or_default(),
    };
    if let Some(url) = &args.url {
        let mut target = Target::parse(url, args.implicit)?;
        if args.user.is_some() {
            target.user.clone_from(&args.user);
        }
        let result = client.open(target);
        if let Err(e) = result {
            if !interactive {
                return Err(client.exit_error(&e));
            }
            eprintln!("error: {e:#}");
        }
    }
    let outcome = if let Some(script) = &args.commands {
        client.script(command::split_script(script))
    } else if interactive {
        client.repl()
    } else {
        let mut lines = Vec::new();
        for line in io::stdin().lock().lines() {
            lines.extend(command::split_script(&line.context("cannot read stdin")?));
        }
        client.script(lines)
    };
    client.close();
    outcome.map_err(|e| client.exit_error(&e))
}

/// suppaftp warns on stderr where we report errors ourselves: the client logs nothing unless
/// RUST_LOG asks. (Its command lines, passwords included, never reach the log at any level:
/// [`crate::logging`] drops them.)
fn quiet_library_logs() {
    if std::env::var_os("RUST_LOG").is_none() {
        log::set_max_level(log::LevelFilter::Off);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// What the client was doing when it failed; scripts tell these apart by the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Connect,
    Login,
    Command,
}

impl Stage {
    /// Documented in the README: 2 connect, 3 login, 1 any other command.
    fn exit_code(self) -> u8 {
        match self {
            Stage::Connect => 2,
            Stage::Login => 3,
            Stage::Command => 1,
        }
    }
}

/// A failed run of `ferroftp client`: its one-line message and the exit code its stage has.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ExitError {
    pub code: u8,
    message: String,
}

/// What to do after a command.
#[derive(PartialEq, Eq)]
enum Flow {
    Continue,
    Quit,
}

struct Client {
    /// What the client is doing now (connecting, logging in, a command): a failure's stage.
    stage: Stage,
    conn: Option<Connection>,
    target: Option<Target>,
    /// The user name once logged in.
    logged_in: Option<String>,
    cwd: String,
    /// Names from the last listing, for tab completion.
    names: Arc<Mutex<Vec<String>>>,
    bars: bool,
    /// A person can answer prompts (stdin is a terminal).
    can_prompt: bool,
    insecure: bool,
    implicit: bool,
    timeout: Duration,
    known_hosts: KnownHosts,
}

impl Client {
    /// `e` as the run's error, with the exit code of the stage it happened in.
    fn exit_error(&self, e: &anyhow::Error) -> anyhow::Error {
        anyhow::Error::new(ExitError {
            code: self.stage.exit_code(),
            message: crate::cli::one_line(e),
        })
    }

    /// Runs `lines` in order; the first failure ends the script with its error.
    fn script(&mut self, lines: Vec<String>) -> anyhow::Result<()> {
        for line in lines {
            let cmd = ClientCommand::parse(&line).map_err(|e| anyhow!("{line}: {e}"))?;
            let label = cmd.to_string();
            match self
                .execute(cmd)
                .with_context(|| label.trim_end().to_owned())?
            {
                Flow::Continue => {}
                Flow::Quit => break,
            }
        }
        Ok(())
    }

    fn repl(&mut self) -> anyhow::Result<()> {
        let config = rustyline::Config::builder()
            .max_history_size(HISTORY_LINES)
            .map(|b| {
                b.history_ignore_space(true)
                    .auto_add_history(false)
                    .completion_type(rustyline::CompletionType::List)
                    .build()
            })
            .unwrap_or_default();
        let mut editor: Editor<ClientHelper, DefaultHistory> =
            Editor::with_config(config).context("cannot start line editing")?;
        let slot = Arc::new(Mutex::new(None));
        editor.set_helper(Some(ClientHelper::new(
            Arc::clone(&self.names),
            Arc::clone(&slot),
        )));
        let history = trust::config_dir().map(|d| d.join(HISTORY));
        if let Some(path) = &history {
            let _ = editor.load_history(path);
        }
        println!("Type help for the commands, quit to leave.");
        loop {
            // While the line is typed, Tab may list a remote directory on the connection.
            let prompt = self.prompt();
            *lock(&slot) = self.conn.take();
            let typed = editor.readline(&prompt);
            self.conn = lock(&slot).take();
            let line = match typed {
                Ok(line) => line,
                Err(ReadlineError::Interrupted) => continue,
                Err(ReadlineError::Eof) => break,
                Err(e) => return Err(e).context("cannot read the command line"),
            };
            if self.run_typed_line(&mut editor, &line) == Flow::Quit {
                break;
            }
        }
        if let Some(path) = &history {
            if let Some(dir) = path.parent() {
                let _ = fs::create_dir_all(dir);
            }
            let _ = editor.save_history(path);
        }
        Ok(())
    }

    /// Runs each command of one typed line, reporting errors and going on; history keeps
    /// the ones without a password. A lost connection is dropped so `open` reconnects.
    fn run_typed_line(
        &mut self,
        editor: &mut Editor<ClientHelper, DefaultHistory>,
        line: &str,
    ) -> Flow {
        for piece in command::split_script(line) {
            let cmd = match ClientCommand::parse(&piece) {
                Ok(cmd) => cmd,
                Err(e) => {
                    eprintln!("error: {e}");
                    continue;
                }
            };
            if !cmd.has_secret() {
                let _ = editor.add_history_entry(piece.as_str());
            }
            let label = cmd.to_string();
            match self.execute(cmd) {
                Ok(Flow::Continue) => {}
                Ok(Flow::Quit) => return Flow::Quit,
                Err(e) => {
                    eprintln!("error: {}: {e:#}", label.trim_end());
                    if matches!(e.downcast_ref::<FtpError>(), Some(FtpError::Io(_))) {
                        self.conn = None;
                        self.logged_in = None;
                        eprintln!("disconnected; open reconnects");
                    }
                }
            }
        }
        Flow::Continue
    }

    /// `user@host:cwd> `, or the host alone before login, or `ferroftp> `.
    fn prompt(&self) -> String {
        match (&self.conn, &self.logged_in) {
            (Some(c), Some(user)) => format!("{user}@{}:{}> ", c.endpoint().host, self.cwd),
            (Some(c), None) => format!("{}> ", c.endpoint().host),
            (None, _) => "ferroftp> ".to_owned(),
        }
    }

    fn conn(&mut self) -> anyhow::Result<&mut Connection> {
        self.conn
            .as_mut()
            .ok_or_else(|| anyhow!("not connected (use open HOST)"))
    }

    fn execute(&mut self, cmd: ClientCommand) -> anyhow::Result<Flow> {
        self.stage = Stage::Command;
        match cmd {
            ClientCommand::Open(url) => self.reopen(url.as_deref())?,
            ClientCommand::User { name, password } => self.user(name, password)?,
            ClientCommand::Ls(path) => self.ls(path.as_deref())?,
            ClientCommand::ShowDirectories => self.ls(Some("/"))?,
            // Seed 002: directories are the top-level ones `show directories` lists.
            ClientCommand::ShowDirectory(name) => self.ls(Some(&top_level(name)))?,
            ClientCommand::Cd(path) => self.change_dir(Some(&path))?,
            ClientCommand::Cdup => self.change_dir(None)?,
            ClientCommand::Pwd => self.print_working_dir()?,
            ClientCommand::Lcd(dir) => files::change_local_dir(dir)?,
            ClientCommand::Lls(dir) => files::list_local_dir(dir.as_deref())?,
            ClientCommand::Shell(command) => files::run_shell(&command)?,
            ClientCommand::Get {
                remote,
                local,
                resume,
                recursive,
            } => self.get(&remote, local.as_deref(), resume, recursive)?,
            ClientCommand::DownloadFile(name) => self.get(&name, None, false, false)?,
            ClientCommand::Put {
                local,
                remote,
                visibility,
                recursive,
                resume,
            } => self.put(&local, remote, visibility, recursive, resume)?,
            ClientCommand::Mget(patterns) => self.mget(&patterns)?,
            ClientCommand::Mput(patterns) => self.mput(&patterns)?,
            ClientCommand::Mkdir(path) => {
                self.change(|c| c.mkdir(&path), format!("created {path}"))?
            }
            ClientCommand::Rmdir(path) => {
                self.change(|c| c.rmdir(&path), format!("removed {path}"))?
            }
            ClientCommand::Delete(path) => {
                self.change(|c| c.delete(&path), format!("deleted {path}"))?
            }
            ClientCommand::Rename { from, to } => {
                self.change(|c| c.rename(&from, &to), format!("renamed {from} to {to}"))?
            }
            ClientCommand::Mode(mode) => self.set_mode(mode)?,
            ClientCommand::Type(kind) => self.set_type(kind)?,
            ClientCommand::Site(args) => print_reply(&self.conn()?.site(&args)?),
            ClientCommand::Quote(line) => print_reply(&self.conn()?.quote(&line)?),
            ClientCommand::Signup { name, password } => {
                self.site_account("SIGNUP", &name, password)?
            }
            ClientCommand::AddUser { name, password } => {
                self.site_account("ADDUSER", &name, password)?
            }
            ClientCommand::DelUser(name) => self.site_on("DELUSER", &name)?,
            ClientCommand::Ban(name) => self.site_on("BAN", &name)?,
            ClientCommand::Unban(name) => self.site_on("UNBAN", &name)?,
            ClientCommand::Close => {
                if self.conn.is_none() {
                    println!("not connected");
                }
                self.close();
            }
            ClientCommand::Quit => return Ok(Flow::Quit),
            ClientCommand::Help(topic) => help(topic.as_deref())?,
        }
        Ok(Flow::Continue)
    }

    /// `open URL`, or `open` alone: the last server (with its user) again.
    fn reopen(&mut self, url: Option<&str>) -> anyhow::Result<()> {
        let target = match url {
            Some(url) => Target::parse(url, self.implicit)?,
            None => self
                .target
                .clone()
                .ok_or_else(|| anyhow!("no server to reconnect to (use open HOST)"))?,
        };
        self.open(target)
    }

    /// Runs one change on the server and says what it did.
    fn change(
        &mut self,
        op: impl FnOnce(&mut Connection) -> Result<(), FtpError>,
        done: String,
    ) -> anyhow::Result<()> {
        op(self.conn()?)?;
        println!("{done}");
        Ok(())
    }

    fn print_working_dir(&mut self) -> anyhow::Result<()> {
        let pwd = self.conn()?.pwd()?;
        println!("{pwd}");
        self.cwd = pwd;
        Ok(())
    }

    /// `cd PATH`, or `cdup` with None; prints the directory arrived in.
    fn change_dir(&mut self, path: Option<&str>) -> anyhow::Result<()> {
        match path {
            Some(path) => self.conn()?.cwd(path)?,
            None => self.conn()?.cdup()?,
        }
        self.refresh_cwd();
        println!("{}", self.cwd);
        Ok(())
    }

    fn set_mode(&mut self, mode: connection::DataMode) -> anyhow::Result<()> {
        self.conn()?.set_mode(mode);
        println!(
            "{}",
            match mode {
                connection::DataMode::Passive => "passive mode (EPSV, PASV)",
                connection::DataMode::Active => "active mode (PORT/EPRT)",
            }
        );
        Ok(())
    }

    fn set_type(&mut self, kind: TransferType) -> anyhow::Result<()> {
        self.conn()?.set_type(kind)?;
        println!(
            "{}",
            match kind {
                TransferType::Ascii => "ASCII transfers (TYPE A)",
                TransferType::Binary => "binary transfers (TYPE I)",
            }
        );
        Ok(())
    }

    /// `SITE VERB NAME`, its reply printed.
    fn site_on(&mut self, verb: &str, name: &str) -> anyhow::Result<()> {
        print_reply(&self.conn()?.site(&format!("{verb} {name}"))?);
        Ok(())
    }

    /// `SITE SIGNUP|ADDUSER NAME PASSWORD`, asking for the new password when not given.
    fn site_account(
        &mut self,
        verb: &str,
        name: &str,
        password: Option<Password>,
    ) -> anyhow::Result<()> {
        let password = self.new_password(name, password)?;
        let reply = self
            .conn()?
            .site(&format!("{verb} {name} {}", password.expose()))?;
        print_reply(&reply);
        Ok(())
    }
}

/// A directory name as `show directory` takes it: relative names are top-level ones.
fn top_level(name: String) -> String {
    if name.starts_with('/') {
        name
    } else {
        format!("/{name}")
    }
}

/// Prints a positive reply's lines (SITE, quote).
fn print_reply(reply: &connection::Reply) {
    for line in &reply.lines {
        println!("{line}");
    }
}

fn help(topic: Option<&str>) -> anyhow::Result<()> {
    match topic {
        Some(word) => {
            let spec = command::spec(word).ok_or_else(|| anyhow!("no command {word}"))?;
            println!("{}", spec.usage);
            println!("  {}", spec.about);
            if !spec.aliases.is_empty() {
                println!("  also: {}", spec.aliases.join(", "));
            }
        }
        None => {
            for spec in COMMANDS {
                println!("  {:<44} {}", spec.usage, spec.about);
            }
        }
    }
    Ok(())
}
