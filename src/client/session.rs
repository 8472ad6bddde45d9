//! Connecting and signing in: the URL's server (with the certificate check), USER, the
//! password from the argument, the environment or a hidden prompt, and closing.

use crate::auth::Password;
use crate::client::command::Target;
use crate::client::connection::{Connection, Error as FtpError, Security};
use crate::client::trust::{KnownHosts, TrustPolicy};
use anyhow::{Context as _, bail};
use std::io::{self, BufRead, Write};

use super::{Client, PASSWORD_ENV, Stage};

impl Client {
    /// Connects to `target` (asking about an unknown certificate when someone can answer),
    /// logs in when a user is known, and changes to the URL's directory.
    pub(super) fn open(&mut self, target: Target) -> anyhow::Result<()> {
        self.close();
        self.stage = Stage::Connect;
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
        }
        self.stage = Stage::Command;
        if target.user.is_some()
            && let Some(path) = &target.path
        {
            self.conn()?.cwd(path)?;
            self.refresh_cwd();
        }
        Ok(())
    }

    pub(super) fn connect(&mut self, target: &Target) -> anyhow::Result<Connection> {
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

    pub(super) fn known_hosts_path(&self) -> String {
        self.known_hosts
            .path()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "known_hosts".into())
    }

    pub(super) fn login(&mut self, user: &str, password: Option<Password>) -> anyhow::Result<()> {
        self.stage = Stage::Login;
        let password = self.password(user, password)?;
        self.conn()?.login(user, &password)?;
        self.logged_in = Some(user.to_owned());
        self.refresh_cwd();
        println!("Logged in as {user}.");
        Ok(())
    }

    /// `user NAME`: logs in on a fresh connection to the same server (USER in the middle of
    /// a session is not something every server supports).
    pub(super) fn user(&mut self, name: String, password: Option<Password>) -> anyhow::Result<()> {
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
    pub(super) fn password(&self, user: &str, given: Option<Password>) -> anyhow::Result<Password> {
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
    pub(super) fn new_password(
        &self,
        name: &str,
        given: Option<Password>,
    ) -> anyhow::Result<Password> {
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

    pub(super) fn refresh_cwd(&mut self) {
        if let Some(conn) = self.conn.as_mut()
            && let Ok(pwd) = conn.pwd()
        {
            self.cwd = pwd;
        }
    }

    pub(super) fn close(&mut self) {
        if let Some(conn) = self.conn.take() {
            let _ = conn.quit();
        }
        self.logged_in = None;
        self.cwd.clear();
    }
}

/// Reads one answer from the terminal; only `y`/`yes` is yes.
pub(super) fn ask_yes_no(question: &str) -> anyhow::Result<bool> {
    print!("{question}");
    io::stdout().flush()?;
    let mut answer = String::new();
    io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}
