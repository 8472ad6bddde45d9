//! The FTP server: shared state, listeners, the bounded worker pool and the shutdown drain.

mod acceptor;
mod admission;
mod commands;
mod control;
mod data;
pub mod metrics;
pub mod net;
pub mod pace;
mod pool;
mod proxy;
mod session;
pub mod shutdown;
mod splice;
mod stream;
pub mod unblock;
pub mod xferlog;

use std::io;
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

pub use admission::Permit;
pub use shutdown::Shutdown;

use crate::auth::{self, Accounts, Directories, Limits, Throttle, ThrottlePolicy};
use crate::config::{Settings, StorageChoice};
use crate::instance::InstanceLock;
use crate::limits::{EVICTION_MIN_WAIT, PROXY_PEEK_WAIT, SHUTDOWN_GRACE, SIGNUPS_PER_HOUR};
use crate::protocol::address::canonical;
use crate::storage::Storage;
use crate::tls::{self, Identity};
use admission::Admission;
use metrics::Metrics;
use xferlog::XferLog;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Accounts(#[from] auth::Error),
    #[error("cannot listen on {addr}: {source}")]
    Listen { addr: SocketAddr, source: io::Error },
    #[error(transparent)]
    Tls(#[from] tls::Error),
    #[error("{what}: {source}")]
    Setup { what: String, source: io::Error },
    /// Another process serves this instance (or its lock file cannot be taken).
    #[error("{0}")]
    Locked(io::Error),
}

fn setup(what: impl Into<String>) -> impl FnOnce(io::Error) -> ServerError {
    let what = what.into();
    move |source| ServerError::Setup { what, source }
}

/// State every session shares.
pub struct Shared {
    pub settings: Settings,
    pub identity: Identity,
    pub accounts: Accounts,
    pub directories: Directories,
    /// Per-user quotas and bandwidth limits (`data/limits.txt`).
    pub limits: Limits,
    /// The bandwidth pacers of users with a rate.
    pub pacers: pace::Pacers,
    /// SIGNUP rate limit: at most `SIGNUPS_PER_HOUR` per IP.
    pub signups: Throttle,
    pub storage: Storage,
    pub throttle: Throttle,
    pub xferlog: XferLog,
    pub metrics: Metrics,
    pub shutdown: Shutdown,
    /// With `storage = "s3"`: the accounts every node shares through the bucket.
    shared_accounts: Option<auth::bucket::SharedAccounts>,
    admission: Arc<Admission>,
}

impl Shared {
    pub fn active_sessions(&self) -> usize {
        self.admission.active()
    }

    /// Seats a new session, or says why it is refused (the exact reply line). A connection
    /// from a trusted proxy (`proxied`) is judged by the client its PROXY header names when
    /// the header is already there (looked at, not read); otherwise only once the worker has
    /// read it (`readmit`), and until then only the total limit applies.
    fn admit(
        &self,
        peer: IpAddr,
        stream: &TcpStream,
        proxied: bool,
    ) -> Result<Permit, &'static str> {
        let peer = canonical(peer);
        let max_sessions = self.settings.max_sessions;
        let known = match proxied {
            false => Some(peer),
            true => {
                let full = self.admission.is_full(max_sessions);
                let wait = if full {
                    PROXY_PEEK_WAIT
                } else {
                    Duration::ZERO
                };
                proxy::peek_client(stream, wait)
                    .map(|named| named.map_or(peer, |client| canonical(client.ip())))
            }
        };
        // SECURITY: a connection whose client is not known yet evicts no waiting session:
        // its client may be blocked or over its per-IP limit.
        let (ip, limits) = match known {
            Some(ip) => (ip, (self.settings.max_per_ip, true)),
            None => (peer, (usize::MAX, false)),
        };
        if known.is_some() && self.throttle.is_blocked(ip) {
            return Err(admission::REFUSED_BLOCKED);
        }
        self.admission.admit(ip, stream, max_sessions, limits)
    }

    /// Judges a proxied session again as coming from `client`, the address its PROXY header
    /// named: the IP block and the per-IP limit, as `admit` does for a direct connection.
    fn readmit(&self, permit: &Permit, client: IpAddr) -> Result<(), &'static str> {
        let client = canonical(client);
        if self.throttle.is_blocked(client) {
            return Err(admission::REFUSED_BLOCKED);
        }
        permit.rekey(client, self.settings.max_per_ip)
    }

    /// True when connections from `peer` must start with a PROXY protocol header.
    fn expects_proxy_header(&self, peer: IpAddr) -> bool {
        let peer = canonical(peer);
        self.settings.proxy_protocol
            && self
                .settings
                .proxy_trusted
                .iter()
                .any(|n| n.contains(&peer))
    }
}

/// One accepted connection with its admission permit (released when the job is dropped).
pub struct Job {
    pub stream: std::net::TcpStream,
    /// Accepted on an implicit-TLS listener: the handshake comes before the greeting.
    pub implicit_tls: bool,
    /// From a trusted proxy: a PROXY protocol header comes first and names the client.
    pub proxied: bool,
    pub permit: Permit,
}

/// A bound, ready server.
pub struct Server {
    /// Each listener and whether it is implicit TLS.
    listeners: Vec<(TcpListener, bool)>,
    shared: Arc<Shared>,
    /// Set when `prepare` created the first admin account: its password, to print once.
    pub created_admin_password: Option<auth::Password>,
    /// The Prometheus endpoint (`metrics_listen`), bound with the listeners.
    metrics: Option<metrics::Endpoint>,
    /// This process owns the instance until `run` returns.
    _lock: InstanceLock,
}

impl Server {
    /// Locks the instance, binds every listener, then (and only then) prepares the instance
    /// directory and loads its state: a server that cannot start changes nothing on disk.
    pub fn bind(settings: Settings) -> Result<Server, ServerError> {
        let instance = settings.instance.clone();
        let lock = instance.lock().map_err(ServerError::Locked)?;
        let listeners = bind_listeners(&settings)?;
        let metrics = settings
            .metrics_listen
            .map(|addr| {
                metrics::Endpoint::bind(addr).map_err(|source| ServerError::Listen { addr, source })
            })
            .transpose()?;
        // Read-only, so a malformed limits.txt stops the start before anything is written.
        let limits = Limits::open(&instance.data_dir())?;
        instance.prepare().map_err(setup("instance directory"))?;
        // Before the accounts are read: a node joining a cluster takes the bucket's accounts
        // (and its admin) instead of making its own. directories.txt first, so a new
        // instance's default grants go up with that first exchange.
        let directories = Directories::open(&instance.data_dir())?;
        let shared_accounts = shared_accounts(&settings)?;
        directories.reload_if_changed();
        let accounts = Accounts::open(&instance.data_dir(), settings.bcrypt_cost)?;
        unblock::discard_stale(&instance.data_dir());
        if settings.password_cache {
            accounts.enable_password_cache(settings.password_cache_ttl)?;
        }
        let created_admin_password = auth::ensure_admin(&accounts)?;
        let storage = open_storage(&settings, &accounts)?;
        for account in accounts.list() {
            if let Err(e) = storage.ensure_home(account.name.as_str()) {
                log::warn!("cannot create home of {}: {e}", account.name);
            }
        }
        let xferlog = XferLog::open(&instance.xferlog())
            .map_err(setup(instance.xferlog().display().to_string()))?;
        let identity = Identity::load_or_generate(&instance.certs_dir(), certificate_names())?;
        let shared = Arc::new(Shared {
            throttle: Throttle::new(settings.throttle)
                .with_safelist(settings.login_safelist.clone()),
            signups: Throttle::new(ThrottlePolicy {
                max_failures: SIGNUPS_PER_HOUR,
                window: Duration::from_secs(3600),
                block: Duration::from_secs(3600),
            }),
            settings,
            accounts,
            directories,
            limits,
            pacers: pace::Pacers::default(),
            identity,
            storage,
            xferlog,
            metrics: Metrics::new(),
            shutdown: Shutdown::new(),
            shared_accounts,
            admission: Arc::new(Admission::new(EVICTION_MIN_WAIT)),
        });
        tombstone_deleted_accounts(&shared)?;
        Ok(Server {
            listeners,
            shared,
            created_admin_password,
            metrics,
            _lock: lock,
        })
    }

    /// Addresses of the plain (explicit-TLS capable) listeners.
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.addrs(false)
    }

    /// Addresses of the implicit-TLS listeners.
    pub fn implicit_tls_addrs(&self) -> Vec<SocketAddr> {
        self.addrs(true)
    }

    fn addrs(&self, implicit: bool) -> Vec<SocketAddr> {
        self.listeners
            .iter()
            .filter(|(_, i)| *i == implicit)
            .filter_map(|(l, _)| l.local_addr().ok())
            .collect()
    }

    /// Where `/metrics` is served, if `metrics_listen` is set.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics
            .as_ref()
            .and_then(metrics::Endpoint::local_addr)
    }

    /// SHA-256 fingerprint of the TLS certificate in use.
    pub fn tls_fingerprint(&self) -> String {
        self.shared.identity.fingerprint()
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
            Arc::new(move |job: Job| session::run(&shared, job))
        };
        let pool = Arc::new(pool::Pool::new(shared.settings.max_sessions, handler));
        let mut acceptors = Vec::new();
        for (listener, implicit_tls) in self.listeners {
            let shared = Arc::clone(&shared);
            let pool = Arc::clone(&pool);
            let handle = thread::Builder::new()
                .name("ferroftp-accept".into())
                .spawn(move || acceptor::run(listener, implicit_tls, &shared, &pool))
                .map_err(setup("acceptor thread"))?;
            acceptors.push(handle);
        }
        let scrapes = match self.metrics {
            Some(endpoint) => Some(serve_metrics(endpoint, &shared, &pool)?),
            None => None,
        };
        let watcher = spawn_reloader(&shared)?;
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
        // Last: a scrape stuck on a client that reads nothing must not delay the drain.
        if let Some(scrapes) = scrapes
            && scrapes.is_finished()
        {
            let _ = scrapes.join();
        }
        if let Ok(pool) = Arc::try_unwrap(pool) {
            pool.stop();
        }
        log::info!("stopped");
        Ok(())
    }
}

/// The thread that, once a second until shutdown, picks up what changes on disk: the
/// account, grant and limits files (a hand-deleted account's files are disowned), the certificate,
/// and `ferroftp unblock` requests.
fn spawn_reloader(shared: &Arc<Shared>) -> Result<thread::JoinHandle<()>, ServerError> {
    let shared = Arc::clone(shared);
    thread::Builder::new()
        .name("ferroftp-reload".into())
        .spawn(move || {
            let mut known = account_names(&shared.accounts);
            let mut generation = shared.accounts.generation();
            let mut sync_failing = false;
            while !shared.shutdown.wait_timeout(Duration::from_secs(1)) {
                if let Some(bucket) = &shared.shared_accounts {
                    sync_failing = sync_accounts(bucket, &shared.accounts, sync_failing);
                }
                shared.accounts.reload_if_changed();
                shared.directories.reload_if_changed();
                shared.limits.reload_if_changed();
                shared.identity.reload_if_changed();
                unblock::apply(&shared.settings.instance.data_dir(), &shared.throttle);
                crate::logging::reopen_if_rotated();
                if shared.accounts.generation() != generation {
                    generation = shared.accounts.generation();
                    let now = account_names(&shared.accounts);
                    disown_removed(&shared, known.difference(&now));
                    known = now;
                }
            }
        })
        .map_err(setup("reload thread"))
}

/// One exchange of account edits with the bucket; a failure is logged when it starts and
/// when it ends, not every second. Returns whether it is failing.
fn sync_accounts(
    bucket: &auth::bucket::SharedAccounts,
    accounts: &Accounts,
    was_failing: bool,
) -> bool {
    match bucket.sync() {
        Ok(synced) => {
            for name in &synced.ended {
                log::info!("account {name} was deleted on another node; its sessions end");
                accounts.end_sessions_of(name);
            }
            if was_failing {
                log::info!("accounts are in step with the bucket again");
            }
            false
        }
        Err(e) => {
            if !was_failing {
                log::warn!("cannot exchange account edits with the bucket: {e}");
            }
            true
        }
    }
}

/// With `storage = "s3"`, the accounts shared through the bucket, brought in step once.
fn shared_accounts(
    settings: &Settings,
) -> Result<Option<auth::bucket::SharedAccounts>, ServerError> {
    let StorageChoice::S3 { endpoint, prefix } = &settings.storage else {
        return Ok(None);
    };
    let bucket =
        auth::bucket::SharedAccounts::new(endpoint, prefix, &settings.instance.data_dir())?;
    bucket.sync()?;
    Ok(Some(bucket))
}

/// Accounts deleted by a hand edit of credentials.txt (the CLI and SITE DELUSER log theirs)
/// leave their files to no one.
fn disown_removed<'a>(shared: &Shared, gone: impl Iterator<Item = &'a String>) {
    for name in gone {
        if let Err(e) = shared.storage.disown(name, None) {
            log::error!("cannot disown the files of deleted account {name}: {e}");
        }
    }
}

/// The metrics endpoint's thread, until shutdown; gauges are read from the live state.
fn serve_metrics(
    endpoint: metrics::Endpoint,
    shared: &Arc<Shared>,
    pool: &Arc<pool::Pool<Job>>,
) -> Result<thread::JoinHandle<()>, ServerError> {
    let (shared, pool) = (Arc::clone(shared), Arc::clone(pool));
    thread::Builder::new()
        .name("ferroftp-metrics".into())
        .spawn(move || {
            let live = || metrics::Live {
                sessions_open: shared.active_sessions(),
                blocked_ips: shared.throttle.blocked_count(),
                workers_started: pool.started(),
                workers_max: shared.settings.max_sessions,
            };
            endpoint.serve(&shared.metrics, &live, &|| shared.shutdown.is_triggered());
        })
        .map_err(setup("metrics thread"))
}

/// Every logged account deletion hands the account's files to its tombstone owner before the
/// credentials without it are installed: those logged while no server ran, now, and later
/// ones as the accounts are reloaded.
fn tombstone_deleted_accounts(shared: &Arc<Shared>) -> Result<(), ServerError> {
    let weak = Arc::downgrade(shared);
    shared.accounts.on_delete(
        shared.storage.deletions_applied(),
        Box::new(move |name, seq| match weak.upgrade() {
            Some(shared) => shared
                .storage
                .disown(name, Some(seq))
                .map_err(|e| io::Error::other(format!("cannot disown the files of {name}: {e}"))),
            None => Ok(()),
        }),
    )?;
    Ok(())
}

/// The storage back-end the settings name: `server_storage/` with its journal, or a bucket.
fn open_storage(settings: &Settings, accounts: &Accounts) -> Result<Storage, ServerError> {
    let instance = &settings.instance;
    match &settings.storage {
        StorageChoice::Local => Storage::open(
            &instance.storage_dir(),
            &instance.metadata_journal(),
            settings.fsync_uploads,
            &|name: &str| accounts.lookup(name).is_some(),
        )
        .map_err(setup("server_storage")),
        StorageChoice::S3 { endpoint, prefix } => {
            let store = crate::storage::s3::ObjectStore::open(
                endpoint,
                prefix,
                &instance.data_dir().join("s3-deletions-applied"),
            )
            .map_err(|e| ServerError::Setup {
                what: format!("S3 bucket {} at {}", endpoint.bucket, endpoint.url),
                source: io::Error::other(e.to_string()),
            })?;
            Ok(Storage::over(Box::new(store)))
        }
    }
}

/// Each configured listener, bound, with whether it is implicit TLS.
fn bind_listeners(settings: &Settings) -> Result<Vec<(TcpListener, bool)>, ServerError> {
    let plain = settings.listen.iter().map(|a| (a, false));
    let implicit = settings.implicit_tls_listen.iter().map(|a| (a, true));
    plain
        .chain(implicit)
        .map(|(addr, implicit_tls)| {
            net::listen(*addr)
                .map(|l| (l, implicit_tls))
                .map_err(|source| ServerError::Listen {
                    addr: *addr,
                    source,
                })
        })
        .collect()
}

/// Names the generated certificate is valid for: localhost, this host's name, its addresses.
fn certificate_names() -> Vec<String> {
    let mut names = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its whole length; gethostname NUL-terminates on success.
    if unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } == 0 {
        let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
        if let Ok(host) = std::str::from_utf8(&buf[..end])
            && !host.is_empty()
            && !names.iter().any(|n| n == host)
        {
            names.push(host.to_owned());
        }
    }
    names.extend(net::lan_addresses().into_iter().map(|ip| ip.to_string()));
    names
}

fn account_names(accounts: &Accounts) -> std::collections::HashSet<String> {
    accounts
        .list()
        .into_iter()
        .map(|a| a.name.as_str().to_owned())
        .collect()
}
