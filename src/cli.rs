//! The command line: `serve`, `user add|del|ban|unban|passwd|list|limit`, `unblock`, `client` and
//! `web`. Parsing is clap's; each subcommand is one function here (`client` lives in
//! [`crate::client`]).

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};

use crate::auth::{
    AccountState, Accounts, Directories, LimitKey, LimitSetting, Limits, Password, Role,
};
use crate::client::ClientArgs;
use crate::config::{FileConfig, LogTarget, Overrides, Settings};
use crate::instance::Instance;
use crate::server::{Server, net};
use crate::storage;

#[derive(Debug, Parser)]
#[command(
    name = "ferroftp",
    version,
    propagate_version = true,
    about = "A secure, fast FTP server for the LAN",
    long_about = "A secure, fast FTP/FTPS server for the LAN, with a terminal client and a web \
                  client. An instance directory (--dir, default the current one) holds \
                  ferroftp.toml, data/ (accounts, grants, ownership, xferlog), certs/ and \
                  server_storage/ (the files served)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the FTP server on an instance directory.
    Serve(ServeArgs),
    /// Manage accounts in DIR/data/credentials.txt (works while the server runs).
    #[command(subcommand)]
    User(UserCommand),
    /// Terminal FTP/FTPS client for any server (interactive, or scripted with -c).
    Client(ClientArgs),
    /// Serve the browser UI to FTP/FTPS servers (default http://127.0.0.1:8080/).
    Web(WebArgs),
    /// Lift the failed-login block of an address on the running server (within 2 seconds).
    Unblock {
        /// The client address, IPv4 or IPv6.
        ip: String,
        #[command(flatten)]
        dir: DirArg,
    },
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Instance directory (data/, server_storage/, certs/).
    #[arg(long, default_value = ".")]
    pub dir: PathBuf,
    /// Address to listen on; repeat for several (default 0.0.0.0:5550).
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Vec<String>,
    /// Passive data ports, e.g. 50000-50100.
    #[arg(long, value_name = "LO-HI")]
    pub pasv_ports: Option<String>,
    /// Address announced in PASV replies (behind NAT).
    #[arg(long, value_name = "HOST")]
    pub pasv_address: Option<String>,
    /// Worker threads = concurrent sessions (default 256).
    #[arg(long, value_name = "N")]
    pub max_sessions: Option<usize>,
    /// Let visitors create an account with SIGNUP before logging in.
    #[arg(long)]
    pub allow_signup: bool,
    /// Allow anonymous (user `anonymous` or `ftp`) read-only access to Public/.
    #[arg(long)]
    pub anonymous: bool,
    /// Implicit FTPS listener (TLS from the first byte, like port 990); repeatable.
    #[arg(long, value_name = "ADDR:PORT")]
    pub implicit_tls_listen: Vec<String>,
    /// Refuse logins before AUTH TLS and transfers without PROT P.
    #[arg(long)]
    pub require_tls: bool,
    /// Config file (default DIR/ferroftp.toml when present).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct WebArgs {
    /// Address of the web page (default 127.0.0.1:8080; 0.0.0.0 exposes it to the LAN).
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Option<String>,
    /// Instance directory whose ferroftp.toml holds web_allowed_servers.
    #[arg(long, default_value = ".")]
    pub dir: PathBuf,
    /// Config file (default DIR/ferroftp.toml when present).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct DirArg {
    /// Instance directory.
    #[arg(long, default_value = ".")]
    pub dir: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an account (prompts for the password twice unless --password-stdin).
    Add {
        /// Account name: letters, digits, `_`, `.`, `-`; at most 32.
        name: String,
        /// Make the account an administrator (sees and may change everything).
        #[arg(long)]
        admin: bool,
        /// Read the password from one line of standard input instead of prompting.
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        dir: DirArg,
    },
    /// Delete an account (its files stay).
    Del {
        /// Account name.
        name: String,
        #[command(flatten)]
        dir: DirArg,
    },
    /// Ban an account: it can no longer log in, open sessions end.
    Ban {
        /// Account name.
        name: String,
        #[command(flatten)]
        dir: DirArg,
    },
    /// Lift a ban.
    Unban {
        /// Account name.
        name: String,
        #[command(flatten)]
        dir: DirArg,
    },
    /// Change a password.
    Passwd {
        /// Account name.
        name: String,
        /// Read the new password from one line of standard input instead of prompting.
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        dir: DirArg,
    },
    /// List accounts.
    List {
        #[command(flatten)]
        dir: DirArg,
    },
    /// Set quotas and bandwidth limits in DIR/data/limits.txt (works while the server runs);
    /// with no option, show what applies. A value `none` lifts a limit, `default` takes the
    /// value of the `*` line again.
    Limit(LimitArgs),
}

#[derive(Debug, Args)]
pub struct LimitArgs {
    /// Account name, or `*` for the default of every user without a value of their own.
    name: String,
    /// Bytes the user's files may take in all, e.g. 500M or 10G.
    #[arg(long, value_name = "SIZE")]
    quota: Option<String>,
    /// How many files the user may own.
    #[arg(long, value_name = "N")]
    files: Option<String>,
    /// Bytes per second for all the user's uploads together, e.g. 512K or 2M.
    #[arg(long, value_name = "RATE")]
    upload_rate: Option<String>,
    /// Bytes per second for all the user's downloads together.
    #[arg(long, value_name = "RATE")]
    download_rate: Option<String>,
    #[command(flatten)]
    dir: DirArg,
}

impl LimitArgs {
    /// The changes asked for, in limits.txt's terms.
    fn changes(&self) -> anyhow::Result<Vec<(LimitKey, Option<LimitSetting>)>> {
        let asked = [
            (LimitKey::Quota, &self.quota),
            (LimitKey::Files, &self.files),
            (LimitKey::UploadRate, &self.upload_rate),
            (LimitKey::DownloadRate, &self.download_rate),
        ];
        let mut changes = Vec::new();
        for (key, value) in asked {
            let Some(value) = value else { continue };
            let setting = if value.eq_ignore_ascii_case("default") {
                None
            } else {
                Some(LimitSetting::parse(key, value).map_err(anyhow::Error::msg)?)
            };
            changes.push((key, setting));
        }
        Ok(changes)
    }
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => serve(args),
        Command::User(cmd) => user(cmd),
        Command::Client(args) => crate::client::run(args),
        Command::Web(args) => web(args),
        Command::Unblock { ip, dir } => unblock(&ip, &dir.dir),
    }
}

fn load_file_config(dir: &Path, explicit: Option<&Path>) -> anyhow::Result<FileConfig> {
    let instance = Instance::new(dir);
    let path = explicit
        .map(Path::to_path_buf)
        .unwrap_or_else(|| instance.config_file());
    Ok(FileConfig::load(&path, explicit.is_some())?)
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let file = load_file_config(&args.dir, args.config.as_deref())?;
    let flags = Overrides {
        listen: args.listen,
        pasv_ports: args.pasv_ports,
        pasv_address: args.pasv_address,
        max_sessions: args.max_sessions,
        allow_signup: args.allow_signup,
        anonymous: args.anonymous,
        implicit_tls_listen: args.implicit_tls_listen,
        require_tls: args.require_tls,
    };
    let settings = Settings::build(args.dir.clone(), file, flags)?;
    redirect_log(&settings.log)?;
    let server = Server::bind(settings)?;
    // Before the start lines: whoever reads them may stop the server at once.
    let shutdown = server.shutdown_handle();
    ctrlc::set_handler(move || shutdown.trigger())
        .context("cannot install the Ctrl-C/SIGTERM handler")?;
    let root = std::fs::canonicalize(&args.dir).unwrap_or(args.dir);
    print_start_lines(&server, &root)?;
    server.run()?;
    Ok(())
}

/// The start lines of the SPEC ("Command line"): listeners first, then where to connect, the
/// certificate, the instance, and a first admin's password (or where it was written).
fn print_start_lines(server: &Server, root: &Path) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    for addr in server.local_addrs() {
        writeln!(out, "listening on {addr}")?;
    }
    for addr in server.implicit_tls_addrs() {
        writeln!(out, "listening on {addr} (implicit TLS)")?;
    }
    if let Some(addr) = server.metrics_addr() {
        writeln!(out, "metrics on http://{addr}/metrics")?;
    }
    for url in lan_urls(&server.local_addrs()) {
        writeln!(out, "connect to {url}")?;
    }
    writeln!(
        out,
        "TLS certificate SHA-256 fingerprint {}",
        server.tls_fingerprint()
    )?;
    writeln!(out, "instance directory {}", root.display())?;
    if let Some(password) = &server.created_admin_password {
        if std::io::stdout().is_terminal() {
            writeln!(
                out,
                "created account admin with password {} (shown only this once)",
                password.expose()
            )?;
        } else {
            // SECURITY: a service's stdout ends up in a journal anyone in `adm` may read.
            let file = Instance::new(root).admin_password_file();
            crate::auth::save_admin_password(&file, password).with_context(|| {
                format!(
                    "the new admin account's password is lost; set one with \
                     `ferroftp user passwd admin --dir {}`",
                    root.display()
                )
            })?;
            writeln!(
                out,
                "created account admin; its password is in {}",
                file.display()
            )?;
        }
    }
    out.flush()?;
    Ok(())
}

/// `ftp://ADDR:PORT/` for each LAN address a wildcard listener serves.
fn lan_urls(listeners: &[std::net::SocketAddr]) -> Vec<String> {
    let mut urls = Vec::new();
    for addr in listeners.iter().filter(|a| a.ip().is_unspecified()) {
        for ip in net::lan_addresses()
            .into_iter()
            .filter(|ip| ip.is_ipv4() == addr.is_ipv4() || addr.is_ipv6())
        {
            let host = if ip.is_ipv6() {
                format!("[{ip}]")
            } else {
                ip.to_string()
            };
            urls.push(format!("ftp://{host}:{}/", addr.port()));
        }
    }
    urls
}

/// `log_file` / `log_syslog`: from here on the log goes there (errors before it, and the
/// one-line error if this fails, still reach stderr).
fn redirect_log(target: &LogTarget) -> anyhow::Result<()> {
    match target {
        LogTarget::Stderr => Ok(()),
        LogTarget::File(path) => crate::logging::log_to_file(path)
            .with_context(|| format!("log_file: cannot open {}", path.display())),
        LogTarget::Syslog(socket) => crate::logging::log_to_syslog(socket).with_context(|| {
            format!(
                "log_syslog: cannot reach the system logger at {}",
                socket.display()
            )
        }),
    }
}

fn open_accounts(dir: &Path) -> anyhow::Result<Accounts> {
    let file = load_file_config(dir, None)?;
    let cost = file.bcrypt_cost.unwrap_or(10);
    Ok(Accounts::open(&Instance::new(dir).data_dir(), cost)?)
}

/// Shortest password `user add` and `user passwd` accept without a warning.
const SHORT_PASSWORD: usize = 8;

/// SECURITY/operations: every command but `serve` works on an instance that exists, so a typo
/// in `--dir` is an error naming it, not a fresh instance with the account in the wrong place.
/// An existing directory that is not an instance yet becomes one.
fn existing_dir(dir: &Path) -> anyhow::Result<()> {
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => bail!("--dir {} is not a directory", dir.display()),
        Err(_) => bail!(
            "--dir {} does not exist (create it first if it is meant to be a new instance)",
            dir.display()
        ),
    }
}

/// A one-line warning on stderr for a short password; it is still set (the operator's call).
fn warn_if_short(name: &str, password: &Password) {
    if password.expose().chars().count() < SHORT_PASSWORD {
        eprintln!("warning: the password of {name} is shorter than {SHORT_PASSWORD} characters");
    }
}

impl UserCommand {
    fn dir(&self) -> &Path {
        match self {
            UserCommand::Add { dir, .. }
            | UserCommand::Del { dir, .. }
            | UserCommand::Ban { dir, .. }
            | UserCommand::Unban { dir, .. }
            | UserCommand::Passwd { dir, .. }
            | UserCommand::Limit(LimitArgs { dir, .. })
            | UserCommand::List { dir } => &dir.dir,
        }
    }
}

fn user(cmd: UserCommand) -> anyhow::Result<()> {
    existing_dir(cmd.dir())?;
    // With storage = "s3" the accounts live in the bucket: take its edits first, then give it
    // this one, so every node has it within a second or two.
    let bucket = bucket_accounts(cmd.dir())?;
    if let Some(bucket) = &bucket {
        bucket
            .sync()
            .context("cannot reach the accounts in the bucket")?;
    }
    user_locally(cmd)?;
    if let Some(bucket) = &bucket {
        bucket.sync().context(
            "the change is made here but not yet in the bucket (a running server retries)",
        )?;
    }
    Ok(())
}

/// The bucket's accounts, when the instance's config says `storage = "s3"`.
fn bucket_accounts(dir: &Path) -> anyhow::Result<Option<crate::auth::bucket::SharedAccounts>> {
    let file = load_file_config(dir, None)?;
    let crate::config::StorageChoice::S3 { endpoint, prefix } =
        crate::config::storage_choice(&file)?
    else {
        return Ok(None);
    };
    let data = Instance::new(dir).data_dir();
    std::fs::create_dir_all(&data).with_context(|| format!("cannot create {}", data.display()))?;
    Ok(Some(crate::auth::bucket::SharedAccounts::new(
        &endpoint, &prefix, &data,
    )?))
}

fn user_locally(cmd: UserCommand) -> anyhow::Result<()> {
    match cmd {
        UserCommand::Add {
            name,
            admin,
            password_stdin,
            dir,
        } => {
            let accounts = open_accounts(&dir.dir)?;
            let password = read_password(password_stdin)?;
            let role = if admin { Role::Admin } else { Role::User };
            let account = accounts.add(&name, &password, role)?;
            warn_if_short(account.name.as_str(), &password);
            let storage_dir = Instance::new(&dir.dir).storage_dir();
            storage::create_home_dir(&storage_dir, account.name.as_str()).with_context(|| {
                format!(
                    "cannot create the home of {} in {}",
                    account.name,
                    storage_dir.display()
                )
            })?;
            println!("added {} ({})", account.name, account.role.as_str());
        }
        UserCommand::Del { name, dir } => delete_user(&name, &dir.dir)?,
        UserCommand::Ban { name, dir } => {
            open_accounts(&dir.dir)?.set_state(&name, AccountState::Banned)?;
            println!("banned {name}");
        }
        UserCommand::Unban { name, dir } => {
            open_accounts(&dir.dir)?.set_state(&name, AccountState::Active)?;
            println!("unbanned {name}");
        }
        UserCommand::Passwd {
            name,
            password_stdin,
            dir,
        } => {
            let accounts = open_accounts(&dir.dir)?;
            if accounts.lookup(&name).is_none() {
                bail!("no such user: {name}");
            }
            let password = read_password(password_stdin)?;
            accounts.set_password(&name, &password)?;
            warn_if_short(&name, &password);
            println!("password changed for {name}");
        }
        UserCommand::List { dir } => {
            for a in open_accounts(&dir.dir)?.list() {
                println!("{} {} {}", a.name, a.role.as_str(), a.state.as_str());
            }
        }
        UserCommand::Limit(args) => limit(&args)?,
    }
    Ok(())
}

/// `user del`: the account goes, and with it its lines in directories.txt and limits.txt (a
/// later account of the same name must not inherit its grants or limits). limits.txt is read
/// first, so a malformed one stops the command before anything changed.
fn delete_user(name: &str, dir: &Path) -> anyhow::Result<()> {
    let accounts = open_accounts(dir)?;
    let data = Instance::new(dir).data_dir();
    let limits = Limits::open(&data)?;
    accounts.remove(name)?;
    Directories::open(&data)?.remove_user(name)?;
    limits.remove_user(name)?;
    println!("deleted {name} (files kept)");
    Ok(())
}

/// `user limit`: changes the line of an account (or `*`), then prints what applies.
fn limit(args: &LimitArgs) -> anyhow::Result<()> {
    let (name, dir) = (args.name.as_str(), args.dir.dir.as_path());
    let changes = args.changes()?;
    let admin = if name == "*" {
        false
    } else {
        let account = open_accounts(dir)?.lookup(name);
        let Some(account) = account else {
            bail!("no such user: {name}");
        };
        account.is_admin()
    };
    let limits = Limits::open(&Instance::new(dir).data_dir())?;
    if !changes.is_empty() {
        limits.set(name, &changes)?;
    }
    println!("{name}: {}", limits.for_user(name, admin));
    Ok(())
}

fn unblock(ip: &str, dir: &Path) -> anyhow::Result<()> {
    existing_dir(dir)?;
    let Ok(addr) = ip.parse::<std::net::IpAddr>() else {
        bail!("{ip:?} is not an IP address");
    };
    let instance = Instance::new(dir);
    if instance.serving_pid().is_none() {
        // Blocks live in the server's memory: with none running, nothing is blocked.
        println!(
            "no server is running on {}: nothing is blocked",
            dir.display()
        );
        return Ok(());
    }
    let data = instance.data_dir();
    crate::server::unblock::request(&data, addr)
        .with_context(|| format!("cannot write to {}", data.display()))?;
    println!("unblock of {addr} requested; a running server applies it within 2 seconds");
    Ok(())
}

/// One line from stdin with `--password-stdin`, else a hidden prompt, twice.
fn read_password(from_stdin: bool) -> anyhow::Result<Password> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("cannot read the password from stdin")?;
        let line = line.trim_end_matches(['\r', '\n']).to_owned();
        if line.is_empty() {
            bail!("empty password on stdin");
        }
        return Ok(Password::new(line));
    }
    if !std::io::stdin().is_terminal() {
        bail!("no terminal to prompt for a password; use --password-stdin");
    }
    let first = rpassword::prompt_password("Password: ").context("cannot read the password")?;
    let second = rpassword::prompt_password("Again: ").context("cannot read the password")?;
    if first != second {
        bail!("passwords do not match");
    }
    Ok(Password::new(first))
}

fn web(args: WebArgs) -> anyhow::Result<()> {
    existing_dir(&args.dir)?;
    let file = load_file_config(&args.dir, args.config.as_deref())?;
    let listen_spec = args
        .listen
        .or(file.web_listen)
        .unwrap_or_else(|| crate::web::DEFAULT_LISTEN.to_owned());
    let listen: std::net::SocketAddr = listen_spec
        .parse()
        .with_context(|| format!("--listen {listen_spec:?} is not ADDR:PORT"))?;
    let local = net::lan_addresses();
    let allow = match file.web_allowed_servers {
        None => crate::web::allow::Allowlist::this_machine(local),
        Some(specs) => {
            let rules = specs
                .iter()
                .map(|s| crate::web::allow::Rule::parse(s))
                .collect::<Result<Vec<_>, _>>()?;
            crate::web::allow::Allowlist::new(rules, local)
        }
    };
    let config = crate::web::WebConfig {
        listen,
        allow,
        known_hosts: None,
        session_idle: crate::web::SESSION_IDLE,
    };
    let server = crate::web::WebServer::bind(config)?;
    let addr = server.local_addr().unwrap_or(listen);
    println!("web client on http://{addr}/");
    let stop = server.stopper();
    ctrlc::set_handler(stop).context("cannot install the Ctrl-C/SIGTERM handler")?;
    server.run();
    Ok(())
}

/// The error and its causes on one line, each cause once: errors that already quote their
/// source in their own text (`cannot listen on ADDR: <io error>`) do not repeat it.
pub fn one_line(e: &anyhow::Error) -> String {
    let mut line = e.to_string();
    for cause in e.chain().skip(1) {
        let cause = cause.to_string();
        if !line.contains(&cause) {
            line.push_str(": ");
            line.push_str(&cause);
        }
    }
    line
}
