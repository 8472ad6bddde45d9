//! SITE subcommands and the seed commands that also arrive bare: HELP, USERS, ADDUSER,
//! DELUSER, BAN, UNBAN, UNBLOCK (admins), QUOTA, SIGNUP (before login, with
//! `--allow-signup`), VISIBILITY and CHMOD (owner or admin). Success answers `200`.

use crate::auth::{AccountState, Password, Role};
use crate::protocol::{Reply, SiteCommand, codes};
use crate::server::commands::SITE_COMMANDS;
use crate::server::session::{Session, SessionError};

fn denied() -> Reply {
    Reply::new(codes::UNAVAILABLE_FILE, "Permission denied.")
}

impl Session<'_> {
    pub(super) fn site(&mut self, command: SiteCommand) -> Result<Reply, SessionError> {
        match command {
            SiteCommand::Help => Ok(Reply::new(
                codes::HELP,
                format!("SITE commands: {SITE_COMMANDS}"),
            )),
            SiteCommand::Users => Ok(self.users()),
            SiteCommand::AddUser { name, password } => Ok(self.add_user(&name, &password)),
            SiteCommand::DelUser(name) => Ok(self.delete_user(&name)),
            SiteCommand::Ban(name) => Ok(self.set_account_state(&name, AccountState::Banned)),
            SiteCommand::Unban(name) => Ok(self.set_account_state(&name, AccountState::Active)),
            SiteCommand::Unblock(ip) => Ok(self.unblock(&ip)),
            SiteCommand::Quota(name) => Ok(self.quota_report(name.as_deref())),
            SiteCommand::Signup { name, password } => Ok(self.signup(&name, &password)),
            SiteCommand::Visibility { public, path: None } => {
                self.upload_public = Some(public);
                let word = if public { "public" } else { "private" };
                Ok(Reply::new(
                    codes::OK,
                    format!("New uploads of this session will be {word}."),
                ))
            }
            SiteCommand::Visibility {
                public,
                path: Some(path),
            } => self.set_visibility(&path, public),
            SiteCommand::Chmod { mode, path } => self.set_visibility(&path, mode & 0o004 != 0),
            SiteCommand::Unknown(sub) => Ok(Reply::new(
                codes::SYNTAX_ERROR,
                format!("Unknown SITE command {sub}."),
            )),
        }
    }

    fn is_admin(&self) -> bool {
        self.account().is_some_and(|a| a.is_admin())
    }

    /// `SITE UNBLOCK IP`: an honest user locked out by typos gets back in at once.
    fn unblock(&self, ip: &str) -> Reply {
        if !self.is_admin() {
            return denied();
        }
        let Ok(addr) = ip.parse::<std::net::IpAddr>() else {
            return Reply::new(
                codes::PARAMETER_ERROR,
                format!("{ip} is not an IP address."),
            );
        };
        if self.shared.throttle.unblock(addr) {
            log::info!("unblocked ip={addr} by {}", self.user_name().unwrap_or("-"));
            Reply::new(codes::OK, format!("Unblocked {addr}."))
        } else {
            Reply::new(codes::OK, format!("{addr} was not blocked."))
        }
    }

    /// `SITE QUOTA [NAME]`: `NAME: B bytes in F files; quota=… files=… upload_rate=…
    /// download_rate=…`, for the session's own user, or any account for admins.
    fn quota_report(&self, name: Option<&str>) -> Reply {
        let Some(me) = self.user_name() else {
            return denied();
        };
        let (name, limits) = match name {
            None | Some("") => (me.to_owned(), self.user_limits()),
            Some(other) if other == me => (me.to_owned(), self.user_limits()),
            Some(other) if self.is_admin() => match self.shared.accounts.lookup(other) {
                Some(a) => {
                    let limits = self.shared.limits.for_user(a.name.as_str(), a.is_admin());
                    (a.name.to_string(), limits)
                }
                None => return Reply::new(codes::UNAVAILABLE_FILE, "No such user."),
            },
            Some(_) => return denied(),
        };
        let (bytes, files) = match self.shared.storage.usage_of(&name) {
            Ok(usage) => usage,
            Err(e) => return e.reply(),
        };
        Reply::new(
            codes::OK,
            format!("{name}: {bytes} bytes in {files} files; {limits}"),
        )
    }

    fn users(&self) -> Reply {
        if !self.is_admin() {
            return denied();
        }
        let lines = self
            .shared
            .accounts
            .list()
            .iter()
            .map(|a| format!("{} {} {}", a.name, a.role.as_str(), a.state.as_str()))
            .collect();
        Reply::multi(codes::OK, "Accounts:", lines, "End")
    }

    fn add_user(&self, name: &str, password: &Password) -> Reply {
        if !self.is_admin() {
            return denied();
        }
        match self.create_account(name, password) {
            Ok(()) => {
                log::info!("user {name} added by {}", self.user_name().unwrap_or("-"));
                Reply::new(codes::OK, format!("User {name} added."))
            }
            Err(reply) => reply,
        }
    }

    fn create_account(&self, name: &str, password: &Password) -> Result<(), Reply> {
        let account = self
            .shared
            .accounts
            .add(name, password, Role::User)
            .map_err(|e| e.reply())?;
        if let Err(e) = self.shared.storage.ensure_home(account.name.as_str()) {
            log::error!("cannot create the home of {}: {e}", account.name);
        }
        Ok(())
    }

    fn delete_user(&self, name: &str) -> Reply {
        if !self.is_admin() {
            return denied();
        }
        if self.user_name() == Some(name) {
            return Reply::new(
                codes::UNAVAILABLE_FILE,
                "Refusing to delete your own account.",
            );
        }
        // The removal logs the deletion, and the files pass to a tombstone owner through it.
        if let Err(e) = self.shared.accounts.remove(name) {
            return e.reply();
        }
        if let Err(e) = self.shared.directories.remove_user(name) {
            log::warn!("could not drop {name} from directories.txt: {e}");
        }
        if let Err(e) = self.shared.limits.remove_user(name) {
            log::warn!("could not drop {name} from limits.txt: {e}");
        }
        log::info!(
            "user {name} deleted by {} (files kept)",
            self.user_name().unwrap_or("-")
        );
        Reply::new(codes::OK, format!("User {name} deleted; files kept."))
    }

    fn set_account_state(&self, name: &str, state: AccountState) -> Reply {
        if !self.is_admin() {
            return denied();
        }
        if self.user_name() == Some(name) {
            return Reply::new(
                codes::UNAVAILABLE_FILE,
                "Refusing to change your own account.",
            );
        }
        match self.shared.accounts.set_state(name, state) {
            Ok(()) => {
                log::info!(
                    "user {name} set {} by {}",
                    state.as_str(),
                    self.user_name().unwrap_or("-")
                );
                let word = if state == AccountState::Banned {
                    "banned"
                } else {
                    "unbanned"
                };
                Reply::new(codes::OK, format!("User {name} {word}."))
            }
            Err(e) => e.reply(),
        }
    }

    fn signup(&self, name: &str, password: &Password) -> Reply {
        if !self.shared.settings.allow_signup {
            return Reply::new(codes::NOT_IMPLEMENTED, "SIGNUP is disabled on this server.");
        }
        if self.is_logged_in() {
            return Reply::new(codes::BAD_SEQUENCE, "Already logged in.");
        }
        let ip = self.control.peer.ip();
        // SECURITY: account creation is open to anyone; cap it per IP so a script cannot fill
        // the credentials file and the disk with homes.
        if self.shared.signups.is_blocked(ip) {
            return Reply::new(
                codes::UNAVAILABLE_FILE,
                "Too many signups from your address; try later.",
            );
        }
        // SECURITY: a visitor must not name an account after an existing or granted directory
        // (`Movies`): the account's home would be that directory.
        if self.shared.storage.top_dir_exists(name) || self.shared.directories.names_directory(name)
        {
            return Reply::new(codes::UNAVAILABLE_FILE, "That name is not available.");
        }
        match self.create_account(name, password) {
            Ok(()) => {
                self.shared.signups.record(ip);
                log::info!("signup: user={name} ip={ip}");
                Reply::new(
                    codes::OK,
                    format!("User {name} created; log in with USER and PASS."),
                )
            }
            Err(reply) => reply,
        }
    }

    fn set_visibility(&mut self, path: &str, public: bool) -> Result<Reply, SessionError> {
        let target = self.resolve(path)?;
        self.shared
            .storage
            .set_visibility(&self.grants, &target, public)?;
        let word = if public { "public" } else { "private" };
        Ok(Reply::new(
            codes::OK,
            format!("{} is now {word}.", target.virt),
        ))
    }
}
