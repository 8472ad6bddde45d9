//! The FTP server: shared state, listeners, the bounded worker pool and the shutdown drain.

mod acceptor;
mod commands;
mod control;
mod data;
pub mod net;
mod pool;
mod session;
pub mod shutdown;
pub mod xferlog;

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

pub use shutdown::Shutdown;

use crate::auth::{self, Accounts, Throttle};
use crate::config::Settings;
use crate::limits::SHUTDOWN_GRACE;
use crate::protocol::address::canonical;
use crate::storage::Storage;
use xferlog::XferLog;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Accounts(#[from] auth::Error),
    #[error("cannot listen on {addr}: {source}")]
    Listen { addr: SocketAddr, source: io::Error },
    #[error("{what}: {source}")]
    Setup { what: String, source: io::Error },
}

fn setup(what: impl Into<String>) -> impl FnOnce(io::Error) -> ServerError {
    let what = what.into();
    move |source| ServerError::Setup { what, source }
}

/// State every session shares.
pub struct Shared {
    pub settings: Settings,
    pub accounts: Accounts,
    pub storage: Storage,
    pub throttle: Throttle,
    pub xferlog: XferLog,
    pub shutdown: Shutdown,
    active: AtomicUsize,
    per_ip: Mutex<HashMap<IpAddr, usize>>,
}

impl Shared {
    pub fn active_sessions(&self) -> usize {
        self.active.load(Ordering::SeqCst)
    }

    /// Counts a new session in, or says why it is refused.
    fn admit(self: &Arc<Shared>, ip: IpAddr) -> Result<Permit, &'static str> {
        let ip = canonical(ip);
        if self.throttle.is_blocked(ip) {
            return Err("421 Too many failed logins from your address; try again later.\r\n");
        }
        let mut per_ip = self.per_ip.lock().unwrap_or_else(|p| p.into_inner());
        let count = per_ip.entry(ip).or_insert(0);
        if *count >= self.settings.max_per_ip {
            return Err("421 Too many connections from your address.\r\n");
        }
        // The acceptor is the only thread that increments, so check-then-add cannot overshoot.
        if self.active.load(Ordering::SeqCst) >= self.settings.max_sessions {
            return Err("421 Too many connections.\r\n");
        }
        *count += 1;
        self.active.fetch_add(1, Ordering::SeqCst);
        Ok(Permit {
            shared: Arc::clone(self),
            ip,
        })
    }
}

/// One admitted session's place; dropping it (even after a panic) frees the place.
pub struct Permit {
    shared: Arc<Shared>,
    ip: IpAddr,
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut per_ip = self.shared.per_ip.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = per_ip.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                per_ip.remove(&self.ip);
            }
        }
        self.shared.active.fetch_sub(1, Ordering::SeqCst);
    }
}

/// One accepted connection with its admission permit (released when the job is dropped).
pub struct Job {
    pub stream: std::net::TcpStream,
    pub permit: Permit,
}

/// A bound, ready server.
pub struct Server {
    listeners: Vec<TcpListener>,
    shared: Arc<Shared>,
    /// Set when `prepare` created the first admin account: its password, to print once.
    pub created_admin_password: Option<auth::Password>,
}

impl Server {
    /// Prepares the instance directory, loads accounts and binds every listener.
    pub fn bind(settings: Settings) -> Result<Server, ServerError> {
        let instance = settings.instance.clone();
        instance.prepare().map_err(setup("instance directory"))?;
        let accounts = Accounts::open(&instance.data_dir(), settings.bcrypt_cost)?;
        let created_admin_password = auth::ensure_admin(&accounts)?;
        let storage = Storage::open(&instance.storage_dir(), settings.fsync_uploads)
            .map_err(setup("server_storage"))?;
        for account in accounts.list() {
            if let Err(e) = storage.ensure_top_dir(account.name.as_str()) {
                log::warn!("cannot create home of {}: {e}", account.name);
            }
        }
        let xferlog = XferLog::open(&instance.xferlog())
            .map_err(setup(instance.xferlog().display().to_string()))?;
        let mut listeners = Vec::new();
        for addr in &settings.listen {
            let l = net::listen(*addr).map_err(|source| ServerError::Listen {
                addr: *addr,
                source,
            })?;
            listeners.push(l);
        }
        let shared = Arc::new(Shared {
            throttle: Throttle::new(settings.throttle),
            settings,
            accounts,
            storage,
            xferlog,
            shutdown: Shutdown::new(),
            active: AtomicUsize::new(0),
            per_ip: Mutex::new(HashMap::new()),
        });
        Ok(Server {
            listeners,
            shared,
            created_admin_password,
        })
    }

    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listeners
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect()
    }

    pub fn shutdown_handle(&self) -> Shutdown {
        self.shared.shutdown.clone()
    }

    pub fn shared(&self) -> Arc<Shared> {
        Arc::clone(&self.shared)
    }

    /// Serves until the shutdown handle fires, then drains: idle sessions get `421` at once,
    /// transfers get `SHUTDOWN_GRACE`, and the call returns when every session has ended.
    pub fn run(self) -> Result<(), ServerError> {
        let shared = self.shared;
        let handler: Arc<dyn Fn(Job) + Send + Sync> = {
            let shared = Arc::clone(&shared);
            Arc::new(move |job: Job| session::run(&shared, job.stream))
        };
        let (pool, jobs) =
            pool::Pool::start(shared.settings.max_sessions, handler).map_err(setup("worker pool"))?;
        let mut acceptors = Vec::new();
        for listener in self.listeners {
            let shared = Arc::clone(&shared);
            let jobs = jobs.clone();
            let handle = thread::Builder::new()
                .name("ferroftp-accept".into())
                .spawn(move || acceptor::run(listener, &shared, &jobs))
                .map_err(setup("acceptor thread"))?;
            acceptors.push(handle);
        }
        drop(jobs);
        let watcher = {
            let shared = Arc::clone(&shared);
            thread::Builder::new()
                .name("ferroftp-accounts".into())
                .spawn(move || {
                    while !shared.shutdown.wait_timeout(Duration::from_secs(1)) {
                        shared.accounts.reload_if_changed();
                    }
                })
                .map_err(setup("accounts watcher"))?
        };
        shared.shutdown.wait();
        log::info!(
            "shutting down: {} session(s) open",
            shared.active_sessions()
        );
        for a in acceptors {
            let _ = a.join();
        }
        let _ = watcher.join();
        let deadline = Instant::now() + SHUTDOWN_GRACE + Duration::from_secs(5);
        while shared.active_sessions() > 0 && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(50));
        }
        pool.stop();
        log::info!("stopped");
        Ok(())
    }
}
