//! `ferroftp client`: a terminal FTP/FTPS client for any server. [`run`] is the front door:
//! it connects to the URL given, then either runs a script (`-c "a; b"` or lines on a
//! non-terminal stdin: plain output, stop at the first failure, exit non-zero) or a REPL
//! (rustyline editing, history, completion, progress bars).
//!
//! - [`command`]: lines → [`command::ClientCommand`], URLs → [`command::Target`].
//! - [`connection`]: the suppaftp wrapper shared with the web client.
//! - [`trust`]: certificate pinning (trust on first use).
//! - [`progress`]: bars and summaries.
//!
//! This file owns everything a person sees: messages, prompts, local files.

pub mod command;
pub mod connection;
pub mod progress;
pub mod trust;
mod watch;

use std::fs;
use std::io::{self, BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use clap::Args;
use rustyline::completion::{Completer, FilenameCompleter, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::DefaultHistory;
use rustyline::validate::Validator;
use rustyline::{Editor, Helper};

use crate::auth::Password;
use crate::client::command::{COMMANDS, ClientCommand, Target, Visibility};
use crate::client::connection::{Connection, Error as FtpError, Security, TransferType};
use crate::client::progress::Progress;
use crate::client::trust::{KnownHosts, TrustPolicy};

/// Where downloads go unless a local name is given (seed 002).
const DOWNLOADS: &str = "downloads";
/// The environment variable a password may come from.
const PASSWORD_ENV: &str = "FERROFTP_PASSWORD";
/// History file name under the config dir, and how many lines it keeps.
const HISTORY: &str = "history";
const HISTORY_LINES: usize = 1000;
/// `get -r` / `put -r` stop descending here (a symlink loop cannot run forever).
const MAX_TREE_DEPTH: usize = 32;
/// Suffix of a download in progress; renamed to the final name on success.
const PART_SUFFIX: &str = ".part";

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
                return Err(e);
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
    outcome
}

/// suppaftp warns on stderr where we report errors ourselves: the client logs nothing unless
/// RUST_LOG asks. (Its command lines, passwords included, never reach the log at any level:
/// [`crate::logging`] drops them.)
fn quiet_library_logs() {
    if std::env::var_os("RUST_LOG").is_none() {
        log::set_max_level(log::LevelFilter::Off);
    }
}

/// What to do after a command.
enum Flow {
    Continue,
    Quit,
}

struct Client {
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
            .map(|b| b.history_ignore_space(true).auto_add_history(false).build())
            .unwrap_or_default();
        let mut editor: Editor<ClientHelper, DefaultHistory> =
            Editor::with_config(config).context("cannot start line editing")?;
        editor.set_helper(Some(ClientHelper {
            names: Arc::clone(&self.names),
            files: FilenameCompleter::new(),
        }));
        let history = trust::config_dir().map(|d| d.join(HISTORY));
        if let Some(path) = &history {
            let _ = editor.load_history(path);
        }
        println!("Type help for the commands, quit to leave.");
        loop {
            let line = match editor.readline(&self.prompt()) {
                Ok(line) => line,
                Err(ReadlineError::Interrupted) => continue,
                Err(ReadlineError::Eof) => break,
                Err(e) => return Err(e).context("cannot read the command line"),
            };
            let mut quit = false;
            for piece in command::split_script(&line) {
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
                    Ok(Flow::Quit) => quit = true,
                    Err(e) => {
                        eprintln!("error: {}: {e:#}", label.trim_end());
                        if matches!(e.downcast_ref::<FtpError>(), Some(FtpError::Io(_))) {
                            self.conn = None;
                            self.logged_in = None;
                            eprintln!("disconnected; open reconnects");
                        }
                    }
                }
                if quit {
                    break;
                }
            }
            if quit {
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
        match cmd {
            ClientCommand::Open(url) => {
                let target = Target::parse(&url, self.implicit)?;
                self.open(target)?;
            }
            ClientCommand::User { name, password } => self.user(name, password)?,
            ClientCommand::Ls(path) => self.ls(path.as_deref())?,
            ClientCommand::ShowDirectories => self.ls(Some("/"))?,
            ClientCommand::ShowDirectory(name) => {
                // Seed 002: directories are the top-level ones `show directories` lists.
                let path = if name.starts_with('/') {
                    name
                } else {
                    format!("/{name}")
                };
                self.ls(Some(&path))?;
            }
            ClientCommand::Cd(path) => {
                self.conn()?.cwd(&path)?;
                self.refresh_cwd();
                println!("{}", self.cwd);
            }
            ClientCommand::Cdup => {
                self.conn()?.cdup()?;
                self.refresh_cwd();
                println!("{}", self.cwd);
            }
            ClientCommand::Pwd => {
                let pwd = self.conn()?.pwd()?;
                println!("{pwd}");
                self.cwd = pwd;
            }
            ClientCommand::Lcd(dir) => {
                let dir = match dir {
                    Some(d) => PathBuf::from(d),
                    None => std::env::var_os("HOME")
                        .map(PathBuf::from)
                        .ok_or_else(|| anyhow!("no HOME to go to"))?,
                };
                std::env::set_current_dir(&dir)
                    .with_context(|| format!("cannot change to {}", dir.display()))?;
                println!("local directory {}", std::env::current_dir()?.display());
            }
            ClientCommand::Get {
                remote,
                local,
                resume,
                recursive: false,
            } => {
                let dest = local_destination(&remote, local.as_deref())?;
                self.get_file(&remote, &dest, resume)?;
            }
            ClientCommand::Get {
                remote,
                local,
                recursive: true,
                ..
            } => {
                let dest = match local {
                    Some(l) => PathBuf::from(l),
                    None => Path::new(DOWNLOADS).join(base_name(&remote)),
                };
                self.get_tree(&remote, &dest, 0)?;
            }
            ClientCommand::DownloadFile(name) => {
                let dest = local_destination(&name, None)?;
                self.get_file(&name, &dest, false)?;
            }
            ClientCommand::Put {
                local,
                remote,
                visibility,
                recursive: false,
            } => {
                let remote = remote.unwrap_or_else(|| local_base_name(&local));
                self.put_file(Path::new(&local), &remote, visibility)?;
            }
            ClientCommand::Put {
                local,
                remote,
                visibility,
                recursive: true,
            } => {
                let remote = remote.unwrap_or_else(|| local_base_name(&local));
                self.put_tree(Path::new(&local), &remote, visibility, 0)?;
            }
            ClientCommand::Mget(patterns) => self.mget(&patterns)?,
            ClientCommand::Mput(patterns) => self.mput(&patterns)?,
            ClientCommand::Mkdir(path) => {
                self.conn()?.mkdir(&path)?;
                println!("created {path}");
            }
            ClientCommand::Rmdir(path) => {
                self.conn()?.rmdir(&path)?;
                println!("removed {path}");
            }
            ClientCommand::Delete(path) => {
                self.conn()?.delete(&path)?;
                println!("deleted {path}");
            }
            ClientCommand::Rename { from, to } => {
                self.conn()?.rename(&from, &to)?;
                println!("renamed {from} to {to}");
            }
            ClientCommand::Mode(mode) => {
                self.conn()?.set_mode(mode);
                println!(
                    "{}",
                    match mode {
                        connection::DataMode::Passive => "passive mode (EPSV, PASV)",
                        connection::DataMode::Active => "active mode (PORT/EPRT)",
                    }
                );
            }
            ClientCommand::Type(kind) => {
                self.conn()?.set_type(kind)?;
                println!(
                    "{}",
                    match kind {
                        TransferType::Ascii => "ASCII transfers (TYPE A)",
                        TransferType::Binary => "binary transfers (TYPE I)",
                    }
                );
            }
            ClientCommand::Site(args) => print_reply(&self.conn()?.site(&args)?),
            ClientCommand::Quote(line) => print_reply(&self.conn()?.quote(&line)?),
            ClientCommand::Signup { name, password } => {
                let password = self.new_password(&name, password)?;
                let reply = self
                    .conn()?
                    .site(&format!("SIGNUP {name} {}", password.expose()))?;
                print_reply(&reply);
            }
            ClientCommand::AddUser { name, password } => {
                let password = self.new_password(&name, password)?;
                let reply = self
                    .conn()?
                    .site(&format!("ADDUSER {name} {}", password.expose()))?;
                print_reply(&reply);
            }
            ClientCommand::DelUser(name) => {
                print_reply(&self.conn()?.site(&format!("DELUSER {name}"))?)
            }
            ClientCommand::Ban(name) => print_reply(&self.conn()?.site(&format!("BAN {name}"))?),
            ClientCommand::Unban(name) => {
                print_reply(&self.conn()?.site(&format!("UNBAN {name}"))?)
            }
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

    /// Connects to `target` (asking about an unknown certificate when someone can answer),
    /// logs in when a user is known, and changes to the URL's directory.
    fn open(&mut self, target: Target) -> anyhow::Result<()> {
        self.close();
        let conn = self.connect(&target)?;
        let tls = match conn.security() {
            Security::None => "",
            Security::Explicit => " (explicit TLS)",
            Security::Implicit => " (implicit TLS)",
        };
        println!("Connected to {}{tls}", conn.endpoint());
        if let Some(welcome) = conn.welcome() {
            for line in welcome.lines() {
                println!("{}", line.trim_end());
            }
        }
        self.conn = Some(conn);
        self.target = Some(target.clone());
        if let Some(user) = &target.user {
            self.login(user, target.password.clone())?;
            if let Some(path) = &target.path {
                self.conn()?.cwd(path)?;
                self.refresh_cwd();
            }
        }
        Ok(())
    }

    fn connect(&mut self, target: &Target) -> anyhow::Result<Connection> {
        let key = target.endpoint.key();
        let policy = |hosts: &KnownHosts, insecure: bool| {
            if insecure || target.security == Security::None {
                TrustPolicy::Insecure
            } else {
                TrustPolicy::Pinned(hosts.lookup(&key).map(str::to_owned))
            }
        };
        let first = Connection::connect(
            &target.endpoint,
            target.security,
            policy(&self.known_hosts, self.insecure),
            self.timeout,
        );
        let fingerprint = match first {
            Err(FtpError::UnknownCertificate { fingerprint, .. }) => fingerprint,
            other => return Ok(other?),
        };
        if !self.can_prompt {
            bail!(
                "the certificate of {key} is not trusted (SHA-256 {fingerprint}); refusing \
                 without a terminal to ask: run interactively once, add \"{key} {fingerprint}\" \
                 to {}, or use --insecure",
                self.known_hosts_path()
            );
        }
        println!("The server {key} presents a certificate this client has not seen before.");
        println!("SHA-256 fingerprint: {fingerprint}");
        println!("Compare it with the fingerprint the server printed at start.");
        if !ask_yes_no("Trust it and remember it? [y/N] ")? {
            bail!("certificate not trusted; not connected");
        }
        if let Err(e) = self.known_hosts.pin(&key, &fingerprint) {
            eprintln!(
                "warning: cannot save the pin in {}: {e} (trusted for this session only)",
                self.known_hosts_path()
            );
        } else {
            println!("Pinned in {}", self.known_hosts_path());
        }
        Ok(Connection::connect(
            &target.endpoint,
            target.security,
            TrustPolicy::Pinned(Some(fingerprint)),
            self.timeout,
        )?)
    }

    fn known_hosts_path(&self) -> String {
        self.known_hosts
            .path()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "known_hosts".into())
    }

    fn login(&mut self, user: &str, password: Option<Password>) -> anyhow::Result<()> {
        let password = self.password(user, password)?;
        self.conn()?.login(user, &password)?;
        self.logged_in = Some(user.to_owned());
        self.refresh_cwd();
        println!("Logged in as {user}.");
        Ok(())
    }

    /// `user NAME`: logs in on a fresh connection to the same server (USER in the middle of
    /// a session is not something every server supports).
    fn user(&mut self, name: String, password: Option<Password>) -> anyhow::Result<()> {
        let Some(target) = self.target.clone() else {
            bail!("not connected (use open HOST)");
        };
        if self.logged_in.is_some() || self.conn.is_none() {
            let mut target = target;
            target.user = None;
            target.path = None;
            self.open(target)?;
        }
        self.login(&name, password)?;
        if let Some(t) = self.target.as_mut() {
            t.user = Some(name);
        }
        Ok(())
    }

    /// The password for `user`: given, else `FERROFTP_PASSWORD`, else a hidden prompt.
    fn password(&self, user: &str, given: Option<Password>) -> anyhow::Result<Password> {
        if let Some(p) = given {
            return Ok(p);
        }
        if let Some(p) = std::env::var_os(PASSWORD_ENV) {
            return Ok(Password::new(p.to_string_lossy().into_owned()));
        }
        if matches!(user, "anonymous" | "ftp") {
            return Ok(Password::new("ferroftp@".into()));
        }
        if !self.can_prompt {
            bail!(
                "no password for {user}: put it in the URL, set {PASSWORD_ENV}, or run in a \
                 terminal to be asked"
            );
        }
        let host = self
            .conn
            .as_ref()
            .map(|c| c.endpoint().host.clone())
            .unwrap_or_default();
        let secret = rpassword::prompt_password(format!("Password for {user}@{host}: "))
            .context("cannot read the password")?;
        Ok(Password::new(secret))
    }

    /// A password for a new account (signup, adduser): given, or asked twice.
    fn new_password(&self, name: &str, given: Option<Password>) -> anyhow::Result<Password> {
        if let Some(p) = given {
            return Ok(p);
        }
        if !self.can_prompt {
            bail!("a password for {name} is needed on the command line here");
        }
        let first = rpassword::prompt_password(format!("New password for {name}: "))?;
        let second = rpassword::prompt_password("Again: ")?;
        if first != second {
            bail!("passwords do not match");
        }
        Ok(Password::new(first))
    }

    fn refresh_cwd(&mut self) {
        if let Some(conn) = self.conn.as_mut()
            && let Ok(pwd) = conn.pwd()
        {
            self.cwd = pwd;
        }
    }

    fn close(&mut self) {
        if let Some(conn) = self.conn.take() {
            let _ = conn.quit();
        }
        self.logged_in = None;
        self.cwd.clear();
    }

    fn ls(&mut self, path: Option<&str>) -> anyhow::Result<()> {
        let lines = self.conn()?.list(path)?;
        let mut names = Vec::new();
        for line in &lines {
            println!("{line}");
            if let Some(entry) = connection::Entry::parse(line) {
                names.push(entry.name);
            }
        }
        *self.names.lock().unwrap_or_else(|p| p.into_inner()) = names;
        Ok(())
    }

    /// Downloads `remote` to `dest` through `dest.part`, renamed on success. With `resume`,
    /// an existing `.part` (or an existing shorter `dest`) continues with `REST`.
    fn get_file(&mut self, remote: &str, dest: &Path, resume: bool) -> anyhow::Result<()> {
        let dir = dest
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let part = part_path(dest);
        let size = self.conn()?.size(remote).ok();
        let mut offset = 0;
        if resume {
            if !part.exists() && dest.is_file() {
                fs::rename(dest, &part)
                    .with_context(|| format!("cannot resume into {}", dest.display()))?;
            }
            offset = fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
        }
        if resume && offset > 0 && size == Some(offset) {
            fs::rename(&part, dest)?;
            println!("{} is already complete ({offset} bytes)", dest.display());
            return Ok(());
        }
        let file = fs::OpenOptions::new()
            .create(true)
            .write(true)
            .append(offset > 0)
            .truncate(offset == 0)
            .open(&part)
            .with_context(|| format!("cannot create {}", part.display()))?;
        let progress = Progress::start(self.bars, remote, size, offset);
        let result = {
            let mut out = progress.writer(io::BufWriter::new(&file));
            self.conn()?.get(remote, offset, &mut out)
        };
        let result = result.and_then(|n| file.sync_all().map(|_| n).map_err(FtpError::LocalWrite));
        match result {
            Ok(n) => {
                fs::rename(&part, dest).with_context(|| {
                    format!("cannot rename {} to {}", part.display(), dest.display())
                })?;
                println!("{remote} -> {}: {}", dest.display(), progress.finish(n));
                Ok(())
            }
            Err(e) => {
                progress.abandon();
                drop(file);
                let kept = fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
                let local_failure = matches!(e, FtpError::LocalWrite(_));
                if kept == 0 || local_failure {
                    let _ = fs::remove_file(&part);
                    Err(e.into())
                } else {
                    Err(anyhow!(
                        "{e} ({kept} bytes kept in {}; get -c resumes)",
                        part.display()
                    ))
                }
            }
        }
    }

    fn put_file(
        &mut self,
        local: &Path,
        remote: &str,
        visibility: Option<Visibility>,
    ) -> anyhow::Result<()> {
        let file = fs::File::open(local)
            .with_context(|| format!("cannot open local file {}", local.display()))?;
        let meta = file.metadata()?;
        if meta.is_dir() {
            bail!("{} is a directory (use put -r)", local.display());
        }
        let progress = Progress::start(self.bars, remote, Some(meta.len()), 0);
        let result = {
            let mut input = progress.reader(io::BufReader::new(&file));
            self.conn()?.put(remote, &mut input)
        };
        match result {
            Ok(n) => println!("{} -> {remote}: {}", local.display(), progress.finish(n)),
            Err(e) => {
                progress.abandon();
                return Err(e.into());
            }
        }
        if let Some(v) = visibility {
            self.set_visibility(remote, v)?;
        }
        Ok(())
    }

    /// `SITE VISIBILITY` is ferroftp's; another server's refusal (5xx) is a warning only.
    fn set_visibility(&mut self, remote: &str, v: Visibility) -> anyhow::Result<()> {
        match self
            .conn()?
            .site(&format!("VISIBILITY {} {remote}", v.word()))
        {
            Ok(_) => {
                println!("{remote} is {}", v.word());
                Ok(())
            }
            Err(FtpError::Reply(r)) if r.code >= 500 => {
                eprintln!("warning: the server did not set the visibility: {r}");
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    fn get_tree(&mut self, remote: &str, dest: &Path, depth: usize) -> anyhow::Result<()> {
        if depth > MAX_TREE_DEPTH {
            bail!("{remote}: deeper than {MAX_TREE_DEPTH} levels, stopped");
        }
        fs::create_dir_all(dest).with_context(|| format!("cannot create {}", dest.display()))?;
        let entries = self.conn()?.entries(Some(remote))?;
        for entry in entries {
            if entry.name == "." || entry.name == ".." {
                continue;
            }
            let Some(name) = safe_local_name(&entry.name) else {
                eprintln!("warning: skipping {:?}: not a plain file name", entry.name);
                continue;
            };
            let remote_child = join_remote(remote, name);
            let local_child = dest.join(name);
            if entry.is_dir {
                self.get_tree(&remote_child, &local_child, depth + 1)?;
            } else {
                self.get_file(&remote_child, &local_child, false)?;
            }
        }
        Ok(())
    }

    fn put_tree(
        &mut self,
        local: &Path,
        remote: &str,
        visibility: Option<Visibility>,
        depth: usize,
    ) -> anyhow::Result<()> {
        if depth > MAX_TREE_DEPTH {
            bail!(
                "{}: deeper than {MAX_TREE_DEPTH} levels, stopped",
                local.display()
            );
        }
        if !local.is_dir() {
            return self.put_file(local, remote, visibility);
        }
        // An existing directory answers 550 here; the uploads below tell if it is unusable.
        match self.conn()?.mkdir(remote) {
            Ok(()) => println!("created {remote}"),
            Err(FtpError::Reply(r)) if r.code >= 500 => {}
            Err(e) => return Err(e.into()),
        }
        let mut children: Vec<_> = fs::read_dir(local)
            .with_context(|| format!("cannot read {}", local.display()))?
            .filter_map(Result::ok)
            .collect();
        children.sort_by_key(|e| e.file_name());
        for child in children {
            let name = child.file_name().to_string_lossy().into_owned();
            let path = child.path();
            let remote_child = join_remote(remote, &name);
            if path.is_dir() {
                self.put_tree(&path, &remote_child, visibility, depth + 1)?;
            } else {
                self.put_file(&path, &remote_child, visibility)?;
            }
        }
        Ok(())
    }

    fn mget(&mut self, patterns: &[String]) -> anyhow::Result<()> {
        for pattern in patterns {
            let (dir, name_pattern) = match pattern.rsplit_once('/') {
                Some((d, n)) => (Some(if d.is_empty() { "/" } else { d }), n),
                None => (None, pattern.as_str()),
            };
            let matcher = glob::Pattern::new(name_pattern)
                .with_context(|| format!("bad pattern {pattern}"))?;
            let entries = self.conn()?.entries(dir)?;
            let matched: Vec<String> = entries
                .into_iter()
                .filter(|e| !e.is_dir && safe_local_name(&e.name).is_some())
                .filter(|e| matcher.matches(&e.name))
                .map(|e| e.name)
                .collect();
            if matched.is_empty() {
                bail!("no remote file matches {pattern}");
            }
            for name in matched {
                let remote = match dir {
                    Some(d) => join_remote(d, &name),
                    None => name.clone(),
                };
                let dest = Path::new(DOWNLOADS).join(&name);
                self.get_file(&remote, &dest, false)?;
            }
        }
        Ok(())
    }

    fn mput(&mut self, patterns: &[String]) -> anyhow::Result<()> {
        for pattern in patterns {
            let mut files = Vec::new();
            for path in glob::glob(pattern).with_context(|| format!("bad pattern {pattern}"))? {
                let path = path.with_context(|| format!("cannot read a match of {pattern}"))?;
                if path.is_file() {
                    files.push(path);
                }
            }
            if files.is_empty() {
                bail!("no local file matches {pattern}");
            }
            for path in files {
                let remote = local_base_name(&path.to_string_lossy());
                self.put_file(&path, &remote, None)?;
            }
        }
        Ok(())
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

/// Reads one answer from the terminal; only `y`/`yes` is yes.
fn ask_yes_no(question: &str) -> anyhow::Result<bool> {
    print!("{question}");
    io::stdout().flush()?;
    let mut answer = String::new();
    io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

/// The last path component of a remote path.
fn base_name(remote: &str) -> String {
    remote
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .filter(|s| !s.is_empty())
        .unwrap_or("download")
        .to_owned()
}

fn local_base_name(local: &str) -> String {
    Path::new(local)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| base_name(local))
}

/// Where `get REMOTE [LOCAL]` writes: `./downloads/NAME` by default, into LOCAL when it is
/// a directory (or ends with `/`), else LOCAL itself.
fn local_destination(remote: &str, local: Option<&str>) -> anyhow::Result<PathBuf> {
    let name = base_name(remote);
    // SECURITY: a server-chosen or user-typed `..` must not walk out of the target dir.
    if name == ".." || name == "." {
        bail!("{remote}: not a file name");
    }
    Ok(match local {
        None => Path::new(DOWNLOADS).join(name),
        Some(l) if l.ends_with('/') || Path::new(l).is_dir() => Path::new(l).join(name),
        Some(l) => PathBuf::from(l),
    })
}

/// A name from a server listing that is safe to use as a local file name.
/// SECURITY: a hostile server listing `../../.bashrc` or `/etc/x` in `get -r`/`mget` must
/// not make us write outside the target directory.
fn safe_local_name(name: &str) -> Option<&str> {
    let plain =
        !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\\', '\0']);
    plain.then_some(name)
}

fn part_path(dest: &Path) -> PathBuf {
    let mut name = dest.file_name().unwrap_or_default().to_os_string();
    name.push(PART_SUFFIX);
    dest.with_file_name(name)
}

fn join_remote(dir: &str, name: &str) -> String {
    if dir.ends_with('/') {
        format!("{dir}{name}")
    } else {
        format!("{dir}/{name}")
    }
}

/// rustyline's helper: completes command names first, then remote names from the last
/// listing, or local file names for the commands that take them.
struct ClientHelper {
    names: Arc<Mutex<Vec<String>>>,
    files: FilenameCompleter,
}

impl Completer for ClientHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        ctx: &rustyline::Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let before = &line[..pos];
        let start = before.rfind(char::is_whitespace).map_or(0, |i| i + 1);
        let word = &before[start..];
        let pair = |s: &str| Pair {
            display: s.to_owned(),
            replacement: s.to_owned(),
        };
        if start == 0 {
            let mut out: Vec<Pair> = COMMANDS
                .iter()
                .flat_map(|s| std::iter::once(s.name).chain(s.aliases.iter().copied()))
                .filter(|n| n.starts_with(word))
                .map(pair)
                .collect();
            out.sort_by(|a, b| a.display.cmp(&b.display));
            return Ok((0, out));
        }
        let first = before.split_whitespace().next().unwrap_or("");
        if matches!(first, "put" | "mput" | "lcd") {
            return self.files.complete(line, pos, ctx);
        }
        let names = self.names.lock().unwrap_or_else(|p| p.into_inner());
        Ok((
            start,
            names
                .iter()
                .filter(|n| n.starts_with(word))
                .map(|n| pair(n))
                .collect(),
        ))
    }
}

impl Hinter for ClientHelper {
    type Hint = String;
}

impl Highlighter for ClientHelper {}

impl Validator for ClientHelper {}

impl Helper for ClientHelper {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn download_destinations() {
        assert_eq!(
            local_destination("/Public/a.txt", None).unwrap(),
            Path::new("downloads/a.txt")
        );
        assert_eq!(
            local_destination("a.txt", Some("out.txt")).unwrap(),
            Path::new("out.txt")
        );
        assert_eq!(
            local_destination("x/a.txt", Some("dir/")).unwrap(),
            Path::new("dir/a.txt")
        );
        assert!(local_destination("..", None).is_err());
        assert_eq!(safe_local_name("a.txt"), Some("a.txt"));
        for bad in ["", ".", "..", "../x", "/etc/x", "a\\b"] {
            assert_eq!(safe_local_name(bad), None, "{bad:?}");
        }
        assert_eq!(
            part_path(Path::new("downloads/a.txt")),
            Path::new("downloads/a.txt.part")
        );
        assert_eq!(join_remote("/", "x"), "/x");
        assert_eq!(join_remote("/a", "x"), "/a/x");
    }
}
