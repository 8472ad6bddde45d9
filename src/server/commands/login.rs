//! USER, PASS, REIN: the login dialogue (RFC 959 4.1.1) with equal-time failures and the
//! per-IP brute-force block.

use crate::auth::{self, Password};
use crate::protocol::{Reply, codes};
use crate::server::session::{Login, Session, SessionError};
use crate::storage::{Grants, VirtualPath};

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
            Login::LoggedIn(_) => return Ok(Reply::new(codes::LOGGED_IN, "Already logged in.")),
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
        match shared.accounts.verify(&name, password) {
            Ok(account) => {
                let home = account.name.as_str().to_owned();
                shared.storage.ensure_top_dir(&home)?;
                self.grants = if account.is_admin() {
                    Grants::admin()
                } else {
                    Grants::default_user(&home)
                };
                self.cwd = VirtualPath::top(&home);
                log::info!("login ok: user={home} ip={ip}");
                self.login = Login::LoggedIn(account);
                Ok(Reply::new(codes::LOGGED_IN, "Login successful."))
            }
            Err(auth::Error::LoginIncorrect) => {
                self.login = Login::Fresh;
                log::warn!("login failed: user={} ip={ip}", sanitize_for_log(&name));
                if shared.throttle.record_failure(ip) {
                    let p = shared.throttle.policy();
                    log::warn!(
                        "blocking ip={ip} for {}s after {} failed logins",
                        p.block.as_secs(),
                        p.max_failures
                    );
                }
                Ok(Reply::new(codes::NOT_LOGGED_IN, "Login incorrect."))
            }
            Err(e) => {
                self.login = Login::Fresh;
                log::error!(
                    "login check for user={} failed: {e}",
                    sanitize_for_log(&name)
                );
                Ok(Reply::new(codes::NOT_LOGGED_IN, "Login incorrect."))
            }
        }
    }

    /// REIN: back to the state right after the greeting (RFC 959 4.1.1).
    pub(super) fn rein(&mut self) -> Reply {
        self.login = Login::Fresh;
        self.grants = Grants::user(Vec::new());
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
