//! USER, PASS, REIN: the login dialogue (RFC 959 4.1.1) with equal-time failures and the
//! per-IP brute-force block.

use crate::auth::{self, Account, Attempt, Password};
use crate::protocol::address::canonical;
use crate::protocol::{Reply, codes};
use crate::server::session::{ANONYMOUS, Login, Session, SessionError, busy};
use crate::storage::{Access, Grants, PUBLIC_DIR, VirtualPath};

/// How often a login that waits for parallel password checks from its IP looks again.
const LOGIN_QUEUE_STEP: std::time::Duration = std::time::Duration::from_millis(5);

/// The user names RFC 1635 anonymous FTP uses.
fn is_anonymous_name(name: &str) -> bool {
    name.eq_ignore_ascii_case("anonymous") || name.eq_ignore_ascii_case("ftp")
}

impl Session<'_> {
    pub(super) fn user(&mut self, name: String) -> Result<Reply, SessionError> {
        if self.account().is_some() {
            return Ok(Reply::new(
                codes::NOT_LOGGED_IN,
                "Can't change to another user.",
            ));
        }
        // SECURITY: every name gets 331, known or not, so USER cannot enumerate accounts.
        self.login = Login::UserGiven(name);
        Ok(Reply::new(
            codes::NEED_PASSWORD,
            "Please specify the password.",
        ))
    }

    pub(super) fn pass(&mut self, password: &Password) -> Result<Reply, SessionError> {
        let name = match &self.login {
            Login::Fresh => return Ok(Reply::new(codes::BAD_SEQUENCE, "Login with USER first.")),
            Login::LoggedIn(_) | Login::Anonymous => {
                return Ok(Reply::new(codes::LOGGED_IN, "Already logged in."));
            }
            Login::UserGiven(name) => name.clone(),
        };
        let ip = self.control.peer.ip();
        let shared = self.shared;
        if shared.throttle.is_blocked(ip) {
            return Err(SessionError::Close(Reply::new(
                codes::UNAVAILABLE,
                "Too many failed logins; try again later.",
            )));
        }
        if shared.settings.anonymous && is_anonymous_name(&name) {
            // Anonymous sessions stay evictable: they cost no password, so a flood of them
            // must not be able to hold every worker.
            self.join_tls_login(ANONYMOUS);
            self.grants = Grants::user(ANONYMOUS, vec![(PUBLIC_DIR.to_owned(), Access::ReadOnly)]);
            self.cwd = VirtualPath::top(PUBLIC_DIR);
            self.login = Login::Anonymous;
            log::info!("login ok: user={ANONYMOUS} ip={ip}");
            shared.metrics.login(true);
            return Ok(Reply::new(
                codes::LOGGED_IN,
                "Login successful (anonymous, read-only).",
            ));
        }
        let incarnation = shared.accounts.incarnation(&name);
        let verdict = self.check_password(&name, password)?;
        match verdict {
            Ok(account) => {
                let home = account.name.as_str().to_owned();
                shared.storage.ensure_home(&home)?;
                self.take_seat(&home)?;
                self.grants = self.grants_for(&account);
                self.cwd = if self.grants.top_level(&home).is_some() {
                    VirtualPath::top(&home)
                } else {
                    VirtualPath::root()
                };
                log::info!("login ok: user={home} ip={ip}");
                shared.metrics.login(true);
                self.incarnation = incarnation;
                self.login = Login::LoggedIn(account);
                Ok(Reply::new(codes::LOGGED_IN, "Login successful."))
            }
            Err(auth::Error::LoginIncorrect) => {
                self.login = Login::Fresh;
                // A safelisted address is never blocked here, so fail2ban must not ban it
                // either: its line does not end with the address the filter reads.
                let safe = if shared.throttle.is_safelisted(ip) {
                    " (safelisted)"
                } else {
                    ""
                };
                log::warn!(
                    "login failed: user={} ip={ip}{safe}",
                    sanitize_for_log(&name)
                );
                shared.metrics.login(false);
                Ok(auth::Error::LoginIncorrect.reply())
            }
            Err(e) => {
                self.login = Login::Fresh;
                log::error!(
                    "login check for user={} failed: {e}",
                    sanitize_for_log(&name)
                );
                // SECURITY: the peer learns nothing of the cause (a broken file, an I/O error).
                Ok(auth::Error::LoginIncorrect.reply())
            }
        }
    }

    /// The password check: the verified-password cache first (no bcrypt, no budget spent);
    /// otherwise a brute-force reservation, then bcrypt. Parallel logins beyond what the
    /// failure budget allows wait their turn, until the login deadline; a correct password
    /// is never refused for load (one verified meanwhile by a sibling session is let in).
    fn check_password(
        &self,
        name: &str,
        password: &Password,
    ) -> Result<Result<Account, auth::Error>, SessionError> {
        let (shared, ip) = (self.shared, self.control.peer.ip());
        let deadline = self.connected_at + shared.settings.login_timeout;
        loop {
            if let Some(account) = shared.accounts.verify_cached(name, password) {
                return Ok(Ok(account));
            }
            // Evicted while waiting its turn: the worker goes to the newcomer at once.
            if self.permit.is_evicted() {
                return Err(SessionError::Close(busy()));
            }
            match shared.throttle.begin_attempt(ip) {
                Attempt::Go => break,
                Attempt::Busy if std::time::Instant::now() < deadline => {
                    std::thread::sleep(LOGIN_QUEUE_STEP);
                }
                _ => {
                    return Err(SessionError::Close(Reply::new(
                        codes::UNAVAILABLE,
                        "Too many failed logins; try again later.",
                    )));
                }
            }
        }
        let verdict = shared.accounts.verify(name, password);
        let failed = matches!(verdict, Err(auth::Error::LoginIncorrect));
        if shared.throttle.end_attempt(ip, failed) {
            let p = shared.throttle.policy();
            log::warn!(
                "blocking ip={ip} for {}s after {} failed logins",
                p.block.as_secs(),
                p.max_failures
            );
        }
        Ok(verdict)
    }

    /// A session that logs in keeps its worker for good (one evicted meanwhile is told so),
    /// and its TLS sessions join those of its user's other connections from its IP.
    fn take_seat(&self, user: &str) -> Result<(), SessionError> {
        if !self.permit.logged_in() {
            return Err(SessionError::Close(busy()));
        }
        self.join_tls_login(user);
        Ok(())
    }

    fn join_tls_login(&self, user: &str) {
        if let Some(tls) = &self.tls {
            tls.logged_in(user, canonical(self.control.peer.ip()));
        }
    }

    /// REIN: back to the state right after the greeting (RFC 959 4.1.1); the session may be
    /// evicted again and has a new `login_timeout`.
    pub(super) fn rein(&mut self) -> Reply {
        // SECURITY: only a session that was logged in gets a new login deadline; REIN
        // before login must not extend it.
        if self.is_logged_in() {
            self.permit.logged_out(self.control.tcp());
            if let Some(tls) = &self.tls {
                tls.logged_out(canonical(self.control.peer.ip()));
            }
            self.connected_at = std::time::Instant::now();
        }
        self.login = Login::Fresh;
        self.grants = Grants::nobody();
        self.upload_public = None;
        self.cwd = VirtualPath::root();
        self.data_plan = Default::default();
        self.rename_from = None;
        self.restart_at = 0;
        Reply::new(codes::READY, "Ready for new user.")
    }
}

/// SECURITY: user names come from the peer; keep log lines one line and printable so log
/// watchers (fail2ban) cannot be fed forged entries.
fn sanitize_for_log(name: &str) -> String {
    name.chars()
        .take(64)
        .map(|c| if c.is_control() || c == ' ' { '?' } else { c })
        .collect()
}
