//! The TLS identity and rustls configurations: load `certs/cert.pem` + `certs/key.pem`, or
//! generate a self-signed pair on first start; the SHA-256 fingerprint users compare with
//! what their client shows; per-session control/data `ServerConfig`s that bind data-channel
//! resumption to the control connections of one logged-in user from one IP. A renewed
//! certificate (a Let's Encrypt deploy hook copying new files in) is picked up without a
//! restart: new sessions get it, running ones keep theirs.

use std::collections::{HashMap, VecDeque};
use std::fs;
use std::io::{self, Write};
use std::net::IpAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Weak;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::StoresServerSessions;
use sha2::{Digest, Sha256};

use crate::auth::Stamp;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}: {source}", path.display())]
    File { path: PathBuf, source: io::Error },
    #[error("{}: {what}", path.display())]
    Pem { path: PathBuf, what: String },
    #[error("{}: certificate and key do not form a usable TLS identity: {source}", path.display())]
    Identity {
        path: PathBuf,
        source: rustls::Error,
    },
    #[error("cannot generate a self-signed certificate: {0}")]
    Generate(rcgen::Error),
}

/// The server's certificate chain and key, ready to build per-session configs from.
#[derive(Clone)]
pub struct Identity {
    current: Arc<RwLock<Loaded>>,
    cert_path: PathBuf,
    key_path: PathBuf,
    pub generated: bool,
    logins: Arc<LoginCaches>,
}

/// The pair in use and what the files looked like when it was read.
struct Loaded {
    base: Arc<ServerConfig>,
    fingerprint: String,
    /// The stamps of cert.pem and key.pem; a change of either means a reload.
    stamp: Option<[Stamp; 2]>,
}

/// The session caches of logged-in users, one per (user, client IP), shared by every control
/// connection of that user from that IP while one is open; and, per IP, the caches of control
/// connections that have not logged in yet.
#[derive(Debug, Default)]
struct LoginCaches {
    by_login: Mutex<HashMap<(String, IpAddr), Weak<SessionCache>>>,
    before_login: Mutex<HashMap<IpAddr, Vec<Weak<SessionCache>>>>,
}

/// How long a data connection's handshake waits for the sibling control connection that
/// issued its session to finish logging in (its password check is under way).
const SIBLING_LOGIN_WAIT: Duration = Duration::from_secs(3);
const SIBLING_LOGIN_POLL: Duration = Duration::from_millis(10);

impl LoginCaches {
    /// A new control connection's own cache, known as not logged in yet.
    fn fresh(&self, ip: IpAddr) -> Arc<SessionCache> {
        let cache = Arc::new(SessionCache::default());
        let mut before = self
            .before_login
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        before.retain(|_, caches| {
            caches.retain(|c| c.strong_count() > 0);
            !caches.is_empty()
        });
        before.entry(ip).or_default().push(Arc::downgrade(&cache));
        cache
    }

    /// The cache of a control connection from `ip` that is still logging in and holds `key`.
    fn pending_holder(&self, ip: IpAddr, key: &[u8]) -> Option<Arc<SessionCache>> {
        let before = self
            .before_login
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        before
            .get(&ip)?
            .iter()
            .filter_map(Weak::upgrade)
            .find(|c| c.find(key).is_some())
    }

    /// The cache of `user` from `ip`, made when the first of its connections logs in.
    fn join(&self, user: &str, ip: IpAddr) -> Arc<SessionCache> {
        let mut by_login = self.by_login.lock().unwrap_or_else(PoisonError::into_inner);
        // Forget the caches whose connections have all gone (bounded by the sessions alive).
        by_login.retain(|_, cache| cache.strong_count() > 0);
        let key = (user.to_owned(), ip);
        if let Some(cache) = by_login.get(&key).and_then(Weak::upgrade) {
            return cache;
        }
        let cache = Arc::new(SessionCache::default());
        by_login.insert(key, Arc::downgrade(&cache));
        cache
    }
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("fingerprint", &self.fingerprint())
            .finish_non_exhaustive()
    }
}

/// A control connection's configs. The data ones share the control one's session cache: before
/// login its own; from login on, the cache of every control connection of the same user from
/// the same IP (clients such as rclone keep one TLS session cache for all their connections,
/// so a data connection may offer a session issued to a sibling control connection). Anyone
/// else's session does not resume, and the transfer is refused. Upload connections send no TLS 1.3
/// tickets: clients close them with a ticket unread, and the kernel then resets the upload.
/// TLS 1.3 clients such as rustls spend each ticket once, so the control connection hands
/// out as many as a client keeps, and download connections (which the client reads to the
/// end anyway) hand out replacements.
#[derive(Clone)]
pub struct SessionConfigs {
    pub control: Arc<ServerConfig>,
    pub upload: Arc<ServerConfig>,
    pub download: Arc<ServerConfig>,
    /// The cache these configs use now (swapped at login).
    slot: Arc<CacheSlot>,
    logins: Arc<LoginCaches>,
}

type CacheSlot = Mutex<Arc<SessionCache>>;

impl SessionConfigs {
    /// The control connection logged in as `user` from `ip`: its sessions join that login's
    /// shared cache, and its data connections may resume any session in it.
    pub fn logged_in(&self, user: &str, ip: IpAddr) {
        let shared = self.logins.join(user, ip);
        let mut slot = self.slot.lock().unwrap_or_else(PoisonError::into_inner);
        if !Arc::ptr_eq(&slot, &shared) {
            shared.absorb(&slot);
            *slot = shared;
        }
    }

    /// REIN: back to a cache of its own, so the next login shares nothing of this one's.
    pub fn logged_out(&self, ip: IpAddr) {
        *self.slot.lock().unwrap_or_else(PoisonError::into_inner) = self.logins.fresh(ip);
    }
}

/// Tickets on the control connection: rustls clients keep at most 8 per server.
const CONTROL_TICKETS: usize = 8;
/// Tickets on a download connection: one to replace the one spent, one to spare.
const DOWNLOAD_TICKETS: usize = 2;

impl Identity {
    /// Loads `dir/cert.pem` and `dir/key.pem`; when both are absent, generates a self-signed
    /// certificate for `names` (host names and addresses) and writes them (key mode 0600).
    pub fn load_or_generate(dir: &Path, names: Vec<String>) -> Result<Identity, Error> {
        let cert_path = dir.join("cert.pem");
        let key_path = dir.join("key.pem");
        let generated = !cert_path.exists() && !key_path.exists();
        if generated {
            generate(&cert_path, &key_path, names)?;
        }
        let loaded = load(&cert_path, &key_path)?;
        Ok(Identity {
            current: Arc::new(RwLock::new(loaded)),
            cert_path,
            key_path,
            generated,
            logins: Arc::new(LoginCaches::default()),
        })
    }

    /// Loads the pair again if either file changed since it was read; true if a new one is
    /// in use. A pair that does not load (half copied, mismatched, malformed) is logged and
    /// the one in use stays; a later change is tried again.
    pub fn reload_if_changed(&self) -> bool {
        let stamp = stamp(&self.cert_path, &self.key_path);
        if stamp == read_lock(&self.current).stamp {
            return false;
        }
        match load(&self.cert_path, &self.key_path) {
            Ok(loaded) => {
                log::info!(
                    "reloaded the TLS certificate {}: SHA-256 fingerprint {}",
                    self.cert_path.display(),
                    loaded.fingerprint
                );
                *self.current.write().unwrap_or_else(PoisonError::into_inner) = loaded;
                true
            }
            Err(e) => {
                log::error!("{e}; keeping the certificate in use");
                self.current
                    .write()
                    .unwrap_or_else(PoisonError::into_inner)
                    .stamp = stamp;
                false
            }
        }
    }

    /// `AA:BB:...` SHA-256 of the leaf certificate in use, as FileZilla shows it.
    pub fn fingerprint(&self) -> String {
        read_lock(&self.current).fingerprint.clone()
    }

    /// Fresh configs for one control connection from `ip`.
    pub fn session_configs(&self, ip: IpAddr) -> SessionConfigs {
        let slot: Arc<CacheSlot> = Arc::new(Mutex::new(self.logins.fresh(ip)));
        let view = |pin| -> Arc<dyn StoresServerSessions> {
            Arc::new(CacheView {
                slot: Arc::clone(&slot),
                pin,
                ip,
                logins: Arc::clone(&self.logins),
            })
        };
        let base = Arc::clone(&read_lock(&self.current).base);
        let mut control = (*base).clone();
        control.session_storage = view(true);
        let mut upload = control.clone();
        upload.send_tls13_tickets = 0;
        let mut download = control.clone();
        download.send_tls13_tickets = DOWNLOAD_TICKETS;
        download.session_storage = view(false);
        upload.session_storage = view(false);
        control.send_tls13_tickets = CONTROL_TICKETS;
        SessionConfigs {
            control: Arc::new(control),
            upload: Arc::new(upload),
            download: Arc::new(download),
            slot,
            logins: Arc::clone(&self.logins),
        }
    }
}

/// The TLS sessions of one control connection (before login) or of one login (user and IP).
/// Sessions created on control connections are kept long (clients such as lftp/GnuTLS resume
/// every data connection from them); sessions created on download connections go to a
/// rolling window, so they can never push the control connections' out.
///
/// Sessions may be resumed more than once: rustls treats a TLS 1.3 ticket as single-use
/// (`take`), but FTP clients resume many data connections from one session. SECURITY: reuse
/// is confined to this control connection's own cache, and 0-RTT is off, so it allows no
/// replay of application data.
#[derive(Debug, Default)]
struct SessionCache {
    pinned: Mutex<VecDeque<(Vec<u8>, Vec<u8>)>>,
    rolling: Mutex<VecDeque<(Vec<u8>, Vec<u8>)>>,
}

/// Control-connection sessions kept per cache: `CONTROL_TICKETS` for each of up to 32
/// connections of one login (`max_per_ip`), oldest first out.
const PINNED_SESSIONS: usize = 256;
/// Download-connection sessions kept per cache.
const ROLLING_SESSIONS: usize = 64;

impl SessionCache {
    /// Takes in the sessions of `other` (a connection's own cache, at its login). Both tiers'
    /// locks are held while a session moves, so a sibling's handshake looking for it finds it
    /// in one cache or the other, never in neither (it checks `other` first, then `self`).
    fn absorb(&self, other: &SessionCache) {
        for (tier, from, cap) in [
            (&self.pinned, &other.pinned, PINNED_SESSIONS),
            (&self.rolling, &other.rolling, ROLLING_SESSIONS),
        ] {
            let mut from = from.lock().unwrap_or_else(PoisonError::into_inner);
            let mut tier = tier.lock().unwrap_or_else(PoisonError::into_inner);
            for entry in from.drain(..) {
                if tier.len() >= cap {
                    tier.pop_front();
                }
                tier.push_back(entry);
            }
        }
    }

    fn find(&self, key: &[u8]) -> Option<Vec<u8>> {
        for tier in [&self.pinned, &self.rolling] {
            let tier = tier.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some((_, v)) = tier.iter().find(|(k, _)| k == key) {
                return Some(v.clone());
            }
        }
        None
    }
}

/// A config's view of the cache its control connection uses now, and which tier its new
/// sessions go to (`pin`: the control connection's; otherwise a data connection's).
#[derive(Debug)]
struct CacheView {
    slot: Arc<CacheSlot>,
    pin: bool,
    ip: IpAddr,
    logins: Arc<LoginCaches>,
}

impl CacheView {
    fn cache(&self) -> Arc<SessionCache> {
        Arc::clone(&self.slot.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// The session `key` for a handshake. A data connection may offer a session issued to
    /// a sibling control connection that is still logging in (rclone opens connections in
    /// parallel): it waits, briefly, for that login, and resumes only if the sibling turned
    /// out to be the same user (its sessions then joined this login's cache).
    fn lookup(&self, key: &[u8]) -> Option<Vec<u8>> {
        if let Some(found) = self.cache().find(key) {
            return Some(found);
        }
        if self.pin {
            return None;
        }
        let deadline = Instant::now() + SIBLING_LOGIN_WAIT;
        while let Some(sibling) = self.logins.pending_holder(self.ip, key) {
            drop(sibling);
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(SIBLING_LOGIN_POLL);
        }
        self.cache().find(key)
    }
}

impl StoresServerSessions for CacheView {
    fn put(&self, key: Vec<u8>, value: Vec<u8>) -> bool {
        let cache = self.cache();
        let (tier, cap) = if self.pin {
            (&cache.pinned, PINNED_SESSIONS)
        } else {
            (&cache.rolling, ROLLING_SESSIONS)
        };
        let mut tier = tier.lock().unwrap_or_else(PoisonError::into_inner);
        if tier.len() >= cap {
            tier.pop_front();
        }
        tier.push_back((key, value));
        true
    }

    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.lookup(key)
    }

    fn take(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.lookup(key)
    }

    fn can_cache(&self) -> bool {
        true
    }
}

/// Reads and checks the pair: the chain, the key, and that they belong together.
fn load(cert_path: &Path, key_path: &Path) -> Result<Loaded, Error> {
    let stamp = stamp(cert_path, key_path);
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_path)
        .map_err(|e| pem_error(cert_path, e))?
        .collect::<Result<_, _>>()
        .map_err(|e| pem_error(cert_path, e))?;
    let first = certs.first().ok_or_else(|| Error::Pem {
        path: cert_path.to_path_buf(),
        what: "no certificate found".into(),
    })?;
    let fingerprint = fingerprint(first);
    let key = PrivateKeyDer::from_pem_file(key_path).map_err(|e| pem_error(key_path, e))?;
    let base = ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|source| Error::Identity {
            path: cert_path.to_path_buf(),
            source,
        })?;
    Ok(Loaded {
        base: Arc::new(base),
        fingerprint,
        stamp,
    })
}

/// Both files' stamps (the ones the account files use: inode, size, mtime and ctime to the
/// nanosecond), or None when either is missing or unreadable.
fn stamp(cert_path: &Path, key_path: &Path) -> Option<[Stamp; 2]> {
    let one = |p: &Path| crate::auth::stamp(p).ok().flatten();
    Some([one(cert_path)?, one(key_path)?])
}

fn read_lock(lock: &RwLock<Loaded>) -> std::sync::RwLockReadGuard<'_, Loaded> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

fn pem_error(path: &Path, e: rustls::pki_types::pem::Error) -> Error {
    match e {
        rustls::pki_types::pem::Error::Io(source) => Error::File {
            path: path.to_path_buf(),
            source,
        },
        other => Error::Pem {
            path: path.to_path_buf(),
            what: other.to_string(),
        },
    }
}

fn generate(cert_path: &Path, key_path: &Path, names: Vec<String>) -> Result<(), Error> {
    let key = rcgen::generate_simple_self_signed(names).map_err(Error::Generate)?;
    write_file(cert_path, key.cert.pem().as_bytes(), 0o644)?;
    write_file(key_path, key.signing_key.serialize_pem().as_bytes(), 0o600)
}

fn write_file(path: &Path, bytes: &[u8], mode: u32) -> Result<(), Error> {
    let err = |source| Error::File {
        path: path.to_path_buf(),
        source,
    };
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(err)?;
    f.write_all(bytes).map_err(err)?;
    f.sync_all().map_err(err)
}

/// SHA-256 of the DER certificate, as `AB:CD:…` (95 characters): what FileZilla shows and
/// what the terminal client pins.
pub fn fingerprint(cert: &CertificateDer<'_>) -> String {
    let digest = Sha256::digest(cert.as_ref());
    digest
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_then_loads_the_same_identity() {
        let dir = tempfile::tempdir().unwrap();
        let first = Identity::load_or_generate(dir.path(), vec!["localhost".into()]).unwrap();
        assert!(first.generated);
        let mode = fs::metadata(dir.path().join("key.pem"))
            .unwrap()
            .permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o600
        );
        let again = Identity::load_or_generate(dir.path(), vec!["localhost".into()]).unwrap();
        assert!(!again.generated);
        assert_eq!(first.fingerprint(), again.fingerprint());
        assert_eq!(first.fingerprint().len(), 32 * 3 - 1);
        let configs = again.session_configs("127.0.0.1".parse().unwrap());
        assert_eq!(configs.upload.send_tls13_tickets, 0);
        assert_eq!(configs.control.send_tls13_tickets, CONTROL_TICKETS);
    }

    #[test]
    fn broken_pem_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("cert.pem"), "not a pem").unwrap();
        fs::write(dir.path().join("key.pem"), "not a pem").unwrap();
        let err = Identity::load_or_generate(dir.path(), vec![])
            .unwrap_err()
            .to_string();
        assert!(err.contains("cert.pem"), "{err}");
    }
}
