//! The web client (`ferroftp web`): a browser UI to FTP/FTPS servers, served by tiny_http on
//! a small pool of threads. The map:
//!
//! - [`routes`]: the URL space, one handler per route.
//! - [`pages`]: page bodies; [`html`]: escaping, the page frame, form and header encodings.
//! - [`listing`]: a directory's rows (MLSD facts or LIST lines), what the server allows on
//!   each, sorting and the search filter.
//! - [`sessions`]: cookies, CSRF tokens, idle expiry.
//! - [`ftp`]: a session's FTP connections, checked out per request (no lock across I/O).
//! - [`multipart`]: the streaming upload reader; `resumable`: large uploads in pieces that
//!   survive a dropped connection; `archive`: folders and selections as one streamed zip;
//!   `preview`: images and text shown in the page.
//! - [`allow`]: `web_allowed_servers`, the SSRF guard.
//!
//! FTP itself goes through [`crate::client::connection`], the same code as the terminal client.

pub mod allow;
mod archive;
mod files;
pub mod ftp;
pub mod html;
pub mod listing;
mod login;
pub mod multipart;
pub mod pages;
mod preview;
mod respond;
mod resumable;
pub mod routes;
pub mod sessions;
mod transfers;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::Duration;

use crate::auth::{Password, Throttle, ThrottlePolicy};
use crate::client::connection::{Connection, Endpoint, Security};
use crate::client::trust::KnownHosts;
use allow::Allowlist;
use sessions::{Entry, Sessions};

/// Default listen address: this machine only.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// A browser session idle this long is forgotten and its FTP connection closed.
pub const SESSION_IDLE: Duration = Duration::from_secs(30 * 60);
/// Threads serving HTTP requests. A slow or silent peer holds one for at most the socket
/// timeout of the HTTP layer (30 s), so there are enough that a handful cannot stall the rest.
const WORKERS: usize = 32;
/// How often idle sessions are swept.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// Settings of `ferroftp web`.
#[derive(Debug, Clone)]
pub struct WebConfig {
    pub listen: SocketAddr,
    pub allow: Allowlist,
    /// Where pinned FTPS certificates live (`None`: the user's config dir).
    pub known_hosts: Option<PathBuf>,
    pub session_idle: Duration,
}

/// An FTP login held for a browser session: credentials stay here, in server memory, so
/// that each request can open a connection of its own (see [`ftp`]).
pub struct FtpLogin {
    /// What the user typed (shown on pages).
    pub host: String,
    /// The checked address actually connected to.
    pub endpoint: Endpoint,
    pub user: String,
    pub password: Password,
    pub security: Security,
    /// Trusted certificate fingerprint for FTPS.
    pub pin: Option<String>,
    /// The directory the server put us in at login.
    pub home: String,
}

/// What a browser session holds.
#[derive(Default)]
pub struct WebSession {
    /// Shared with the requests running under it; a new login is a new `Arc`.
    pub login: Option<Arc<FtpLogin>>,
    /// A login waiting for the user to trust a new certificate, with its fingerprint.
    pub pending: Option<(FtpLogin, String)>,
    /// A logged-in connection no request is using, for the next one.
    pub idle: Option<Connection>,
}

/// A browser session as the handlers share it.
pub type Session = Arc<Mutex<Entry<WebSession>>>;

/// Locks a session; never held across I/O (a poisoned lock still holds consistent data:
/// every critical section is a few assignments).
pub fn lock(s: &Session) -> MutexGuard<'_, Entry<WebSession>> {
    s.lock().unwrap_or_else(PoisonError::into_inner)
}

/// State shared by the request handlers.
pub struct State {
    pub sessions: Sessions<WebSession>,
    pub allow: Allowlist,
    /// Failed logins per browser IP: 3 in 5 minutes block for 5 minutes.
    pub login_failures: Throttle,
    pub known_hosts: Mutex<KnownHosts>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot listen on {addr}: {message}")]
    Listen { addr: SocketAddr, message: String },
    #[error("cannot read the pinned certificates: {0}")]
    KnownHosts(std::io::Error),
}

/// A bound web client server.
pub struct WebServer {
    http: Arc<tiny_http::Server>,
    state: Arc<State>,
    stop: Arc<AtomicBool>,
}

impl WebServer {
    pub fn bind(config: WebConfig) -> Result<WebServer, Error> {
        let known_hosts = match &config.known_hosts {
            Some(path) => KnownHosts::load(path),
            None => KnownHosts::load_default(),
        }
        .map_err(Error::KnownHosts)?;
        let http = tiny_http::Server::http(config.listen).map_err(|e| Error::Listen {
            addr: config.listen,
            message: e.to_string(),
        })?;
        let state = State {
            sessions: Sessions::new(config.session_idle),
            allow: config.allow,
            login_failures: Throttle::new(ThrottlePolicy {
                max_failures: 3,
                window: Duration::from_secs(300),
                block: Duration::from_secs(300),
            }),
            known_hosts: Mutex::new(known_hosts),
        };
        Ok(WebServer {
            http: Arc::new(http),
            state: Arc::new(state),
            stop: Arc::new(AtomicBool::new(false)),
        })
    }

    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.http.server_addr().to_ip()
    }

    /// A handle that stops `run` (from a signal handler or a test).
    pub fn stopper(&self) -> impl Fn() + Send + Sync + 'static {
        let stop = Arc::clone(&self.stop);
        let http = Arc::clone(&self.http);
        move || {
            stop.store(true, Ordering::SeqCst);
            for _ in 0..WORKERS {
                http.unblock();
            }
        }
    }

    /// Serves until stopped.
    pub fn run(self) {
        let mut workers = Vec::with_capacity(WORKERS);
        for i in 0..WORKERS {
            let (http, state, stop) = (
                Arc::clone(&self.http),
                Arc::clone(&self.state),
                Arc::clone(&self.stop),
            );
            let spawned = thread::Builder::new()
                .name(format!("ferroftp-web-{i}"))
                .spawn(move || {
                    while !stop.load(Ordering::SeqCst) {
                        match http.recv_timeout(Duration::from_millis(500)) {
                            Ok(Some(request)) => routes::handle(&state, request),
                            Ok(None) => {}
                            Err(e) => {
                                log::warn!("web: {e}");
                                break;
                            }
                        }
                    }
                });
            match spawned {
                Ok(h) => workers.push(h),
                Err(e) => log::error!("cannot start a web worker: {e}"),
            }
        }
        while !self.stop.load(Ordering::SeqCst) {
            for _ in 0..(SWEEP_EVERY.as_millis() / 250) {
                if self.stop.load(Ordering::SeqCst) {
                    break;
                }
                thread::sleep(Duration::from_millis(250));
            }
            let swept = self.state.sessions.sweep();
            if swept > 0 {
                log::info!("web: {swept} idle session(s) expired");
            }
        }
        for w in workers {
            let _ = w.join();
        }
    }
}
