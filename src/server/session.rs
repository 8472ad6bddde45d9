//! One client's session: state, the command loop (read line → parse → gates → dispatch →
//! reply) and the timers that end it. The verbs themselves live in `commands/`.

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Instant;

use crate::auth::{Account, DirAccess, UserLimits};
use crate::limits::{PROXY_HEADER_TIMEOUT, TLS_HANDSHAKE_TIMEOUT};
use crate::protocol::address::canonical;
use crate::protocol::listing::FactSet;
use crate::protocol::{Command, Reply, SiteCommand, TransferType, codes};
use crate::server::commands;
use crate::server::commands::Woke;
use crate::server::control::{ControlStream, Incoming};
use crate::server::data::DataPlan;
use crate::server::pace::{Pacer, Way};
use crate::server::{Job, Permit, Shared, acceptor, admission, proxy};
use crate::storage::{self, Access, Grants, Quota, Resolved, VirtualPath};
use crate::tls::SessionConfigs;

/// Where the session is in the login dialogue.
#[derive(Debug)]
pub enum Login {
    Fresh,
    UserGiven(String),
    LoggedIn(Account),
    /// `anonymous`/`ftp` with `--anonymous`: read-only `Public/`.
    Anonymous,
}

/// The name anonymous sessions act under (never a real account: names are refused).
pub const ANONYMOUS: &str = "anonymous";

/// Failures of a handler. Storage errors become replies; I/O errors on the control
/// connection end the session.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Storage(#[from] storage::Error),
    #[error("control connection: {0}")]
    Control(#[from] io::Error),
    /// The handler already sent its replies (AUTH: 234 before the handshake).
    #[error("answered")]
    Answered,
    /// Send this reply and go on (a failure already answered in protocol terms).
    #[error("{}", .0.text())]
    Reply(Reply),
    /// Send this reply, then close the connection.
    #[error("closing: {}", .0.text())]
    Close(Reply),
}

pub struct Session<'a> {
    pub(super) shared: &'a Shared,
    pub(super) control: ControlStream,
    pub(super) login: Login,
    pub(super) grants: Grants,
    pub(super) cwd: VirtualPath,
    pub(super) transfer_type: TransferType,
    pub(super) data_plan: DataPlan,
    pub(super) restart_at: u64,
    /// RNFR's source, re-resolved and judged again at RNTO.
    pub(super) rename_from: Option<VirtualPath>,
    pub(super) epsv_all: bool,
    pub(super) mlst_facts: FactSet,
    /// `SITE VISIBILITY public|private` without a path: the default for this session's uploads.
    pub(super) upload_public: Option<bool>,
    /// The bandwidth pacer of the transfer running, if the user has a rate for its way.
    pub(super) pacer: Option<Arc<Pacer>>,
    /// A command that arrived during a transfer and waits its turn.
    pub(super) pending: Option<Vec<u8>>,
    /// This control connection's TLS configs, once it speaks TLS.
    pub(super) tls: Option<SessionConfigs>,
    pub(super) pbsz_set: bool,
    /// The last transfer ended with 426; a following ABOR answers 226.
    pub(super) transfer_failed: bool,
    /// PROT P: data connections are TLS too.
    pub(super) protect_data: bool,
    /// This session's seat at the admission desk (evicted while not logged in, when full).
    pub(super) permit: Permit,
    line: Vec<u8>,
    pub(super) connected_at: Instant,
    last_command: Instant,
    accounts_generation: u64,
    directories_generation: u64,
    /// `Accounts::incarnation` of the account at login: if it moves, the account was
    /// deleted (and perhaps re-created under the same name) since.
    pub(super) incarnation: u64,
}

/// Runs one session to its end. Errors are logged here, once.
pub fn run(shared: &Shared, job: Job) {
    let Job {
        stream,
        implicit_tls,
        proxied,
        permit,
    } = job;
    let Some((client, via_proxy)) = client_address(shared, &stream, proxied, &permit) else {
        return;
    };
    let peer = client.to_string();
    match via_proxy {
        Some(proxy) => log::info!("connect from {peer} via {proxy}"),
        None => log::info!("connect from {peer}"),
    }
    let mut session = match ControlStream::new(stream) {
        Ok(mut control) => {
            (control.peer, control.via_proxy) = (client, via_proxy);
            Session::new(shared, control, permit)
        }
        Err(e) => {
            log::info!("disconnect {peer}: {e}");
            return;
        }
    };
    let result = if implicit_tls {
        session.start_implicit_tls()
    } else {
        Ok(())
    }
    .and_then(|()| session.serve());
    let user = session.user_name().unwrap_or("-").to_owned();
    match result {
        Ok(()) => log::info!("disconnect {peer} user={user}"),
        Err(e) => log::info!("disconnect {peer} user={user}: {e}"),
    }
}

/// The client's address, and the proxy's when a PROXY header named someone else: the
/// socket's peer, or for a connection from a trusted proxy the one its header names, once
/// that address passed the IP block and the per-IP limit. `None` when the connection was
/// refused (and closed).
fn client_address(
    shared: &Shared,
    stream: &TcpStream,
    proxied: bool,
    permit: &Permit,
) -> Option<(SocketAddr, Option<SocketAddr>)> {
    let socket_peer = stream.peer_addr().ok()?;
    if !proxied {
        return Some((socket_peer, None));
    }
    let client = match proxy::read_header(stream, PROXY_HEADER_TIMEOUT) {
        Ok(named) => named.unwrap_or(socket_peer),
        Err(e) => {
            log::warn!("dropping connection from proxy {socket_peer}: {e}");
            shared.metrics.refused("proxy_header");
            let _ = stream.shutdown(std::net::Shutdown::Both);
            return None;
        }
    };
    if let Err(reply) = shared.readmit(permit, client.ip()) {
        log::info!("refused {client} via {socket_peer}: {}", reply.trim_end());
        shared.metrics.refused(admission::refusal_reason(reply));
        acceptor::refuse(stream, reply);
        return None;
    }
    Some((client, (client != socket_peer).then_some(socket_peer)))
}

impl<'a> Session<'a> {
    fn new(shared: &'a Shared, control: ControlStream, permit: Permit) -> Session<'a> {
        let now = Instant::now();
        Session {
            shared,
            control,
            login: Login::Fresh,
            grants: Grants::nobody(),
            tls: None,
            pbsz_set: false,
            transfer_failed: false,
            protect_data: false,
            cwd: VirtualPath::root(),
            transfer_type: TransferType::Ascii,
            data_plan: DataPlan::None,
            restart_at: 0,
            rename_from: None,
            epsv_all: false,
            mlst_facts: FactSet::default(),
            upload_public: None,
            pacer: None,
            pending: None,
            permit,
            line: Vec::with_capacity(128),
            connected_at: now,
            last_command: now,
            accounts_generation: shared.accounts.generation(),
            directories_generation: shared.directories.generation(),
            incarnation: 0,
        }
    }

    pub(super) fn user_name(&self) -> Option<&str> {
        match &self.login {
            Login::LoggedIn(a) => Some(a.name.as_str()),
            Login::Anonymous => Some(ANONYMOUS),
            _ => None,
        }
    }

    pub(super) fn is_logged_in(&self) -> bool {
        matches!(self.login, Login::LoggedIn(_) | Login::Anonymous)
    }

    /// What a logged-in account sees: admins everything; users their directories.txt line.
    pub(super) fn grants_for(&self, account: &Account) -> Grants {
        let name = account.name.as_str();
        if account.is_admin() {
            return Grants::admin(name);
        }
        let dirs = self
            .shared
            .directories
            .grants_for(name)
            .into_iter()
            .map(|g| {
                let access = match g.access {
                    DirAccess::ReadOnly => Access::ReadOnly,
                    DirAccess::ReadWrite => Access::ReadWrite,
                };
                (g.dir, access)
            })
            .collect();
        Grants::user(name, dirs)
    }

    /// The quotas and rates of limits.txt that apply to this session's user (none before login).
    pub(super) fn user_limits(&self) -> UserLimits {
        match &self.login {
            Login::LoggedIn(a) => self.shared.limits.for_user(a.name.as_str(), a.is_admin()),
            Login::Anonymous => self.shared.limits.for_user(ANONYMOUS, false),
            _ => UserLimits::default(),
        }
    }

    /// The uploader's quota, as `storage` takes it.
    pub(super) fn quota(&self) -> Quota {
        let limits = self.user_limits();
        Quota {
            bytes: limits.quota_bytes,
            files: limits.quota_files,
        }
    }

    /// The pacer for a transfer going `way`, if this user has a rate for it.
    pub(super) fn pacer_for(&self, way: Way) -> Option<Arc<Pacer>> {
        let limits = self.user_limits();
        let rate = match way {
            Way::Upload => limits.upload_rate,
            Way::Download => limits.download_rate,
        };
        self.shared.pacers.get(self.user_name()?, way, rate)
    }

    pub(super) fn account(&self) -> Option<&Account> {
        match &self.login {
            Login::LoggedIn(a) => Some(a),
            _ => None,
        }
    }

    /// Implicit FTPS: TLS before the greeting, data protected by default.
    fn start_implicit_tls(&mut self) -> io::Result<()> {
        let configs = self
            .shared
            .identity
            .session_configs(canonical(self.control.peer.ip()));
        let deadline = Instant::now() + TLS_HANDSHAKE_TIMEOUT;
        self.control
            .upgrade_tls(configs.control.clone(), deadline)?;
        self.tls = Some(configs);
        self.pbsz_set = true;
        self.protect_data = true;
        Ok(())
    }

    fn serve(&mut self) -> io::Result<()> {
        self.control
            .send(&Reply::new(codes::READY, "ferroftp ready."))?;
        loop {
            if !self.next_line()? {
                return Ok(());
            }
            let line = std::mem::take(&mut self.line);
            let keep_going = self.handle_line(&line);
            self.line = line;
            if !keep_going? {
                return Ok(());
            }
        }
    }

    /// Fills `self.line` with the next command; false when the session should end.
    fn next_line(&mut self) -> io::Result<bool> {
        if let Some(p) = self.pending.take() {
            self.line = p;
            return Ok(true);
        }
        loop {
            let woke = self.wait_for_control_or_data()?;
            if matches!(woke, None | Some(Woke::Control)) {
                match self.control.read_line(&mut self.line)? {
                    Incoming::Line => return Ok(true),
                    Incoming::Closed => {
                        if self.permit.is_evicted() {
                            self.control.send(&busy())?;
                        }
                        return Ok(false);
                    }
                    Incoming::TooLong => {
                        self.control
                            .send(&Reply::new(codes::SYNTAX_ERROR, "Command line too long."))?;
                    }
                    Incoming::Idle => {}
                }
            }
            // SECURITY: whatever woke the session (an over-long line, its data connection,
            // a quiet second), its timers run before it waits again.
            if let Some(reply) = self.expiry() {
                self.control.send(&reply)?;
                return Ok(false);
            }
        }
    }

    /// A reason to end a session that is waiting for its next line: shutdown, eviction, the
    /// timeouts, or the account going away.
    fn expiry(&mut self) -> Option<Reply> {
        let settings = &self.shared.settings;
        if let Some(reply) = self.expiry_on_command() {
            return Some(reply);
        }
        // SECURITY: only complete lines reset the idle clock, and an unfinished line has
        // `line_timeout` to become one: bytes dripped without a newline hold no worker.
        if self.last_command.elapsed() >= settings.idle_timeout {
            return Some(Reply::new(codes::UNAVAILABLE, "Timeout."));
        }
        if self
            .control
            .partial_line_age()
            .is_some_and(|age| age >= settings.line_timeout)
        {
            return Some(Reply::new(codes::UNAVAILABLE, "Command line timeout."));
        }
        None
    }

    /// `421` if this session's account was banned or deleted since it logged in; picks up
    /// changed roles and directory grants on the way. Two atomic loads when nothing changed.
    pub(super) fn account_revoked(&mut self) -> Option<Reply> {
        let generation = self.shared.accounts.generation();
        let dir_generation = self.shared.directories.generation();
        if generation == self.accounts_generation && dir_generation == self.directories_generation {
            return None;
        }
        self.accounts_generation = generation;
        self.directories_generation = dir_generation;
        let name = self.account()?.name.as_str().to_owned();
        match self.shared.accounts.lookup(&name) {
            Some(a)
                if a.is_active() && self.shared.accounts.incarnation(&name) == self.incarnation =>
            {
                self.grants = self.grants_for(&a);
                self.login = Login::LoggedIn(a);
                None
            }
            _ => {
                log::info!("ending session of {name}: account banned or deleted");
                Some(Reply::new(codes::UNAVAILABLE, "Account disabled."))
            }
        }
    }

    /// Handles one line; Ok(false) ends the session.
    fn handle_line(&mut self, line: &[u8]) -> io::Result<bool> {
        self.last_command = Instant::now();
        if let Some(reply) = self.expiry_on_command() {
            self.control.send(&reply)?;
            return Ok(false);
        }
        let command = match Command::parse(line) {
            Ok(c) => c,
            Err(e) => {
                self.control.send(&e.reply())?;
                return Ok(true);
            }
        };
        log::debug!("{} -> {}", self.control.peer, command.verb());
        let quit = command == Command::Quit;
        // SECURITY: with --require-tls no credentials cross the wire in clear text.
        if self.shared.settings.require_tls
            && !self.control.is_tls()
            && matches!(
                command,
                Command::User(_) | Command::Pass(_) | Command::Site(SiteCommand::Signup { .. })
            )
        {
            self.control.send(&Reply::new(
                codes::NOT_LOGGED_IN,
                "TLS required: use AUTH TLS first.",
            ))?;
            return Ok(true);
        }
        if !self.is_logged_in() && !commands::allowed_before_login(&command) {
            self.control.send(&Reply::new(
                codes::NOT_LOGGED_IN,
                "Please login with USER and PASS.",
            ))?;
            return Ok(true);
        }
        let is_transfer = command.is_transfer();
        let result = self.dispatch(command);
        // The idle clock runs from the end of a command: a long transfer is not idleness.
        self.last_command = Instant::now();
        if is_transfer {
            self.count_transfer_failure(&result);
        }
        match result {
            Ok(reply) => self.control.send(&reply)?,
            Err(SessionError::Storage(e)) => {
                if let storage::Error::Refused(why) = e {
                    log::warn!(
                        "refused path from {} user={}: {why}",
                        self.control.peer,
                        self.user_name().unwrap_or("-")
                    );
                }
                self.control.send(&e.reply())?;
            }
            Err(SessionError::Reply(reply)) => self.control.send(&reply)?,
            Err(SessionError::Close(reply)) => {
                self.control.send(&reply)?;
                return Ok(false);
            }
            Err(SessionError::Control(e)) => return Err(e),
            Err(SessionError::Answered) => {}
        }
        Ok(!quit)
    }

    /// A transfer command's 4xx/5xx answer, for the metrics.
    fn count_transfer_failure(&self, result: &Result<Reply, SessionError>) {
        let code = match result {
            Ok(reply) | Err(SessionError::Reply(reply) | SessionError::Close(reply)) => reply.code,
            Err(SessionError::Storage(e)) => e.reply().code,
            Err(SessionError::Control(_) | SessionError::Answered) => return,
        };
        if code >= 400 {
            self.shared.metrics.transfer_error(code);
        }
    }

    /// A reason to end the session before its next command: shutdown, eviction, the login
    /// deadline, or the account going away.
    fn expiry_on_command(&mut self) -> Option<Reply> {
        if self.shared.shutdown.is_triggered() {
            return Some(Reply::new(codes::UNAVAILABLE, "Server shutting down."));
        }
        if self.permit.is_evicted() {
            return Some(busy());
        }
        // SECURITY: the login deadline is absolute from connect: commands (NOOP, a stream of
        // wrong passwords) do not extend it.
        if !self.is_logged_in() && self.connected_at.elapsed() >= self.shared.settings.login_timeout
        {
            return Some(Reply::new(codes::UNAVAILABLE, "Login timeout."));
        }
        self.account_revoked()
    }

    /// Resolves a client path for this session.
    pub(super) fn resolve(&self, arg: &str) -> Result<Resolved, storage::Error> {
        self.shared.storage.resolve(&self.grants, &self.cwd, arg)
    }
}

/// What an evicted session is told: its worker went to a newer connection.
pub(super) fn busy() -> Reply {
    Reply::new(codes::UNAVAILABLE, "Server busy, try again later.")
}
