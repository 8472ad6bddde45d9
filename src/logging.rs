//! The process logger: env_logger (stderr, `RUST_LOG`, default `info`) behind a gate that
//! keeps the chatter of libraries out of the log, whatever `RUST_LOG` asks for.
//!
//! SECURITY: libraries log what they send and what is typed, and that includes secrets:
//! suppaftp logs every FTP command it sends at trace (`CC OUT: PASS …`) and every SITE or
//! raw command at debug (`SITE ADDUSER bob <password>`); rustyline logs each key typed at
//! the prompt at debug. SPEC: no secret in any log at any level. The gate decides by the
//! record's target, not by its text, and after env_logger's filter, so no `RUST_LOG`
//! directive (not even `suppaftp::sync_ftp::control=trace`, which a plain
//! `filter_module("suppaftp", …)` would let win as the more specific one) and no change of
//! a library's wording brings a command line back. It denies by default: below `info`, only
//! the modules in [`CHATTY_ALLOWED`] pass, so a new dependency is quiet until reviewed.

use std::io::Write;

use log::{Level, LevelFilter, Log, Metadata, Record};

/// Log targets whose debug and trace records were read and carry no secrets: ours (we log
/// verbs, never their arguments), rustls (handshake states, never application data) and
/// tiny_http (its accept thread).
const CHATTY_ALLOWED: &[&str] = &["ferroftp", "rustls", "tiny_http"];

/// Installs the logger; call once, first thing in `main`.
pub fn init() {
    let inner =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).build();
    let max = inner.filter();
    if log::set_boxed_logger(Box::new(Gate { inner })).is_ok() {
        log::set_max_level(max);
        if max >= LevelFilter::Debug {
            log::debug!(
                "debug and trace records of libraries other than {} are not logged: they \
                 may carry passwords",
                CHATTY_ALLOWED.join(", ")
            );
        }
    }
}

/// env_logger, with library chatter below `info` dropped.
struct Gate {
    inner: env_logger::Logger,
}

impl Log for Gate {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        admitted(metadata.level(), metadata.target(), None) && self.inner.enabled(metadata)
    }

    fn log(&self, record: &Record<'_>) {
        if !admitted(record.level(), record.target(), record.module_path()) {
            return;
        }
        let sink = SINK
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match &*sink {
            Sink::Stderr => self.inner.log(record),
            _ if !self.inner.matches(record) => {}
            Sink::File(file, _) => {
                let _ = (&*file).write_all(file_line(record).as_bytes());
            }
            Sink::Syslog(socket) => {
                let datagram = syslog_datagram(record);
                if socket.send(datagram.as_bytes()).is_err() {
                    // The logger restarted (rsyslog owning /dev/log): connect again once.
                    if let Some(path) = lock_syslog_path().as_deref()
                        && socket.connect(path).is_ok()
                    {
                        let _ = socket.send(datagram.as_bytes());
                    }
                }
            }
        }
    }

    fn flush(&self) {
        self.inner.flush();
    }
}

/// Where admitted records go: stderr through env_logger (the default), or, after
/// [`log_to_file`] / [`log_to_syslog`], a file or the system logger. Filtering (`RUST_LOG`
/// and the gate) is the same for all three.
enum Sink {
    Stderr,
    /// Appended with one write per record, in env_logger's format (fail2ban's filter reads it);
    /// the path, to open it again after a log rotation.
    File(std::fs::File, std::path::PathBuf),
    /// RFC 3164 datagrams to the local syslog socket, facility daemon.
    Syslog(std::os::unix::net::UnixDatagram),
}

static SINK: std::sync::RwLock<Sink> = std::sync::RwLock::new(Sink::Stderr);

/// From now on, records are appended to `path` (created 0640) instead of stderr.
pub fn log_to_file(path: &std::path::Path) -> std::io::Result<()> {
    set_sink(Sink::File(open_log(path)?, path.to_path_buf()));
    Ok(())
}

fn open_log(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o640)
        .open(path)
}

/// After logrotate moved the log file away (its path names another file, or none), opens the
/// path again, so records (and fail2ban) follow the new file. Called once a second.
pub fn reopen_if_rotated() {
    use std::os::unix::fs::MetadataExt;
    let path = match &*SINK
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
    {
        Sink::File(file, path) => {
            let ours = file.metadata().map(|m| m.ino()).ok();
            if std::fs::metadata(path).map(|m| m.ino()).ok() == ours {
                return;
            }
            path.clone()
        }
        _ => return,
    };
    match open_log(&path) {
        Ok(file) => set_sink(Sink::File(file, path)),
        Err(e) => eprintln!("cannot open the log file {} again: {e}", path.display()),
    }
}

/// From now on, records go to the syslog socket at `socket` (normally `/dev/log`).
pub fn log_to_syslog(socket: &std::path::Path) -> std::io::Result<()> {
    let sock = std::os::unix::net::UnixDatagram::unbound()?;
    sock.connect(socket)?;
    *SYSLOG_PATH
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(socket.to_path_buf());
    set_sink(Sink::Syslog(sock));
    Ok(())
}

/// The syslog socket's path, to connect again after the logger restarted.
static SYSLOG_PATH: std::sync::Mutex<Option<std::path::PathBuf>> = std::sync::Mutex::new(None);

fn lock_syslog_path() -> std::sync::MutexGuard<'static, Option<std::path::PathBuf>> {
    SYSLOG_PATH
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn set_sink(sink: Sink) {
    *SINK
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = sink;
}

/// `<PRI>ferroftp[PID]: MESSAGE`, facility daemon (3), severity from the level.
fn syslog_datagram(record: &Record<'_>) -> String {
    let severity = match record.level() {
        Level::Error => 3,
        Level::Warn => 4,
        Level::Info => 6,
        Level::Debug | Level::Trace => 7,
    };
    format!(
        "<{}>ferroftp[{}]: {}",
        3 * 8 + severity,
        std::process::id(),
        record.args()
    )
}

/// env_logger's default line, so the file reads as stderr did.
fn file_line(record: &Record<'_>) -> String {
    format!(
        "[{} {:<5} {}] {}\n",
        chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ"),
        record.level(),
        record.target(),
        record.args()
    )
}

/// Info, warnings and errors report events and always pass; debug and trace pass only when
/// both the target and the module path (a library may name any target) are allowed.
fn admitted(level: Level, target: &str, module_path: Option<&str>) -> bool {
    level <= Level::Info || (allowed(target) && module_path.is_none_or(allowed))
}

fn allowed(path: &str) -> bool {
    CHATTY_ALLOWED.iter().any(|module| within(path, module))
}

/// `path` is `module` or inside it (`suppaftp::sync_ftp`, not `suppaftpx`).
fn within(path: &str, module: &str) -> bool {
    path.strip_prefix(module)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn library_chatter_is_dropped_whatever_its_target() {
        let control = Some("suppaftp::sync_ftp::control");
        assert!(!admitted(
            Level::Trace,
            "suppaftp::sync_ftp::control",
            control
        ));
        assert!(!admitted(Level::Debug, "suppaftp", Some("suppaftp")));
        assert!(!admitted(
            Level::Debug,
            "rustyline",
            Some("rustyline::keymap")
        ));
        assert!(
            !admitted(Level::Debug, "ferroftp", control),
            "a borrowed target"
        );
        assert!(!admitted(Level::Debug, "ferroftpx", None));
        assert!(!admitted(Level::Debug, "some_new_crate", None));
        assert!(admitted(Level::Warn, "suppaftp", control));
        assert!(admitted(Level::Info, "suppaftp", control));
    }

    #[test]
    fn our_own_and_reviewed_debug_lines_pass() {
        let session = Some("ferroftp::server::session");
        assert!(admitted(Level::Trace, "ferroftp::server::session", session));
        assert!(admitted(
            Level::Debug,
            "rustls::client::hs",
            Some("rustls::client::hs")
        ));
        assert!(admitted(Level::Debug, "tiny_http", Some("tiny_http")));
    }
}
