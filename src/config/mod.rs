//! Settings: `ferroftp.toml` (every key optional, unknown keys refused) overlaid by flags.
//! `duration` reads the duration keys, `error` turns every problem into one line naming the
//! file, the line, the key and what is expected.

mod duration;
mod error;

pub use error::{ConfigError, Origin};

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::auth::ThrottlePolicy;
use crate::instance::Instance;

/// Default control port (seed 001).
pub const DEFAULT_LISTEN: &str = "0.0.0.0:5550";

/// Everything `serve` needs, validated.
#[derive(Debug, Clone)]
pub struct Settings {
    pub instance: Instance,
    pub listen: Vec<SocketAddr>,
    pub pasv_ports: Option<RangeInclusive<u16>>,
    pub pasv_address: Option<IpAddr>,
    pub max_sessions: usize,
    pub max_per_ip: usize,
    pub idle_timeout: Duration,
    pub login_timeout: Duration,
    /// A command line must arrive whole within this long of its first byte.
    pub line_timeout: Duration,
    pub data_timeout: Duration,
    pub bcrypt_cost: u32,
    pub overwrite: bool,
    pub fsync_uploads: bool,
    pub throttle: ThrottlePolicy,
    /// `SIGNUP name password` before login creates an account.
    pub allow_signup: bool,
    /// `anonymous`/`ftp` log in read-only to `Public/`.
    pub anonymous: bool,
    /// Implicit FTPS listeners (TLS from the first byte).
    pub implicit_tls_listen: Vec<SocketAddr>,
    /// USER/PASS only after AUTH TLS, transfers only under PROT P.
    pub require_tls: bool,
    /// Protected data connections must resume the control connection's TLS session.
    pub tls_session_reuse: bool,
    /// A protected upload that ends without close_notify is refused with 426.
    pub tls_strict_eof: bool,
    /// Verified-password cache (SPEC "Access model"): logins with a password bcrypt accepted
    /// within `password_cache_ttl` skip bcrypt.
    pub password_cache: bool,
    pub password_cache_ttl: Duration,
    /// Where Prometheus scrapes `/metrics`; None (the default) serves none.
    pub metrics_listen: Option<SocketAddr>,
    /// Networks whose failed logins are never counted nor blocked.
    pub login_safelist: Vec<ipnet::IpNet>,
    /// Control connections from `proxy_trusted` start with a PROXY protocol header (v1/v2)
    /// naming the real client, who then counts for logs, bans, limits and the data-IP check.
    pub proxy_protocol: bool,
    /// The proxies whose PROXY headers are believed (default: loopback only).
    pub proxy_trusted: Vec<ipnet::IpNet>,
    /// Where files and their ownership records are kept.
    pub storage: StorageChoice,
    /// Where the log goes instead of stderr.
    pub log: LogTarget,
}

/// `storage`: this machine's `server_storage/`, or an S3 bucket shared by several nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageChoice {
    Local,
    S3 {
        endpoint: crate::storage::s3::Endpoint,
        /// Keys start with this (`""`, or `"dir/"`).
        prefix: String,
    },
}

/// `log_file` / `log_syslog`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogTarget {
    Stderr,
    File(PathBuf),
    /// The syslog socket (`syslog_socket`, default `/dev/log`).
    Syslog(PathBuf),
}

/// `ferroftp.toml`. Keys mirror the long flags; durations are whole seconds or `"5m"`-style.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FileConfig {
    /// Where this was read from (for errors that point at a line); not a key.
    #[serde(skip)]
    pub origin: Option<Origin>,
    pub listen: Option<Vec<String>>,
    pub pasv_ports: Option<String>,
    pub pasv_address: Option<String>,
    pub max_sessions: Option<usize>,
    pub max_per_ip: Option<usize>,
    pub idle_timeout: Option<duration::Seconds>,
    pub login_timeout: Option<duration::Seconds>,
    pub line_timeout: Option<duration::Seconds>,
    pub data_timeout: Option<duration::Seconds>,
    pub bcrypt_cost: Option<u32>,
    pub overwrite: Option<bool>,
    pub fsync_uploads: Option<bool>,
    pub max_login_failures: Option<u32>,
    pub login_failure_window: Option<duration::Seconds>,
    pub login_block: Option<duration::Seconds>,
    pub allow_signup: Option<bool>,
    pub anonymous: Option<bool>,
    pub implicit_tls_listen: Option<Vec<String>>,
    pub require_tls: Option<bool>,
    pub tls_session_reuse: Option<bool>,
    pub tls_strict_eof: Option<bool>,
    pub password_cache: Option<bool>,
    pub password_cache_ttl: Option<duration::Seconds>,
    /// Prometheus metrics at `http://ADDR:PORT/metrics` (off by default).
    pub metrics_listen: Option<String>,
    /// Addresses and CIDR blocks never blocked for failed logins.
    pub login_safelist: Option<Vec<String>>,
    /// Expect a PROXY protocol header from the `proxy_trusted` addresses (HAProxy `send-proxy-v2`).
    pub proxy_protocol: Option<bool>,
    /// Addresses and CIDR blocks of the proxies whose headers are believed.
    pub proxy_trusted: Option<Vec<String>>,
    /// `"local"` (default) or `"s3"`.
    pub storage: Option<String>,
    /// The S3 endpoint's URL (`http://127.0.0.1:3900`).
    pub s3_endpoint: Option<String>,
    pub s3_bucket: Option<String>,
    /// Default `us-east-1`; Garage's is `garage`.
    pub s3_region: Option<String>,
    /// Keys of this server start with this prefix.
    pub s3_prefix: Option<String>,
    /// Else `AWS_ACCESS_KEY_ID`.
    pub s3_access_key_id: Option<String>,
    /// Else `AWS_SECRET_ACCESS_KEY`.
    pub s3_secret_access_key: Option<String>,
    /// Append the log to this file instead of stderr.
    pub log_file: Option<PathBuf>,
    /// Send the log to the system logger instead of stderr.
    pub log_syslog: Option<bool>,
    /// The system logger's socket (default `/dev/log`).
    pub syslog_socket: Option<PathBuf>,
    /// `ferroftp web`: where the browser UI listens.
    pub web_listen: Option<String>,
    /// `ferroftp web`: FTP servers it may connect to (addresses, CIDRs, `localhost`, `:PORTS`).
    pub web_allowed_servers: Option<Vec<String>>,
}

/// The flags of `serve` that override the file.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub listen: Vec<String>,
    pub pasv_ports: Option<String>,
    pub pasv_address: Option<String>,
    pub max_sessions: Option<usize>,
    pub allow_signup: bool,
    pub anonymous: bool,
    pub implicit_tls_listen: Vec<String>,
    pub require_tls: bool,
}

impl Overrides {
    /// The config keys these flags set (their errors are the flag's, not the file's).
    fn keys_given(&self) -> Vec<&'static str> {
        let given = [
            ("listen", !self.listen.is_empty()),
            ("pasv_ports", self.pasv_ports.is_some()),
            ("pasv_address", self.pasv_address.is_some()),
            ("max_sessions", self.max_sessions.is_some()),
            ("implicit_tls_listen", !self.implicit_tls_listen.is_empty()),
        ];
        given.iter().filter(|(_, g)| *g).map(|(k, _)| *k).collect()
    }
}

impl FileConfig {
    /// Reads `path`; a missing file is an error only when it was named explicitly.
    pub fn load(path: &Path, explicit: bool) -> Result<FileConfig, ConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {
                return Ok(FileConfig::default());
            }
            Err(e) => {
                return Err(ConfigError::File {
                    path: path.display().to_string(),
                    message: e.to_string(),
                });
            }
        };
        let origin = Origin {
            path: path.display().to_string(),
            text,
        };
        let mut file: FileConfig =
            toml::from_str(&origin.text).map_err(|e| error::from_toml(&origin, &e))?;
        file.origin = Some(origin);
        Ok(file)
    }
}

impl Settings {
    /// The settings of `file` overlaid by `flags`; an error names the file's line when the
    /// value came from the file.
    pub fn build(
        dir: PathBuf,
        mut file: FileConfig,
        flags: Overrides,
    ) -> Result<Settings, ConfigError> {
        let origin = file.origin.take();
        let flagged = flags.keys_given();
        Settings::build_unlocated(dir, file, flags).map_err(|e| match &e {
            ConfigError::Value { key, .. } if flagged.contains(key) => e,
            _ => e.at_key_line(origin.as_ref()),
        })
    }

    fn build_unlocated(
        dir: PathBuf,
        file: FileConfig,
        flags: Overrides,
    ) -> Result<Settings, ConfigError> {
        let throttle = throttle_policy(&file);
        let storage = storage_choice(&file)?;
        let listen = addresses("listen", flags.listen, file.listen, DEFAULT_LISTEN)?;
        let implicit_tls_listen = addresses(
            "implicit_tls_listen",
            flags.implicit_tls_listen,
            file.implicit_tls_listen,
            "",
        )?;
        let pasv_ports = flags
            .pasv_ports
            .or(file.pasv_ports)
            .map(|s| parse_port_range(&s))
            .transpose()?;
        let pasv_address = flags
            .pasv_address
            .or(file.pasv_address)
            .map(|s| resolve_host(&s))
            .transpose()?;
        let max_sessions = flags.max_sessions.or(file.max_sessions).unwrap_or(256);
        if !(1..=65_536).contains(&max_sessions) {
            return Err(value("max_sessions", "must be between 1 and 65536"));
        }
        let max_per_ip = file.max_per_ip.unwrap_or(32);
        if max_per_ip == 0 {
            return Err(value("max_per_ip", "must be at least 1"));
        }
        let bcrypt_cost = file.bcrypt_cost.unwrap_or(10);
        if !(4..=31).contains(&bcrypt_cost) {
            return Err(value("bcrypt_cost", "must be between 4 and 31"));
        }
        Ok(Settings {
            storage,
            instance: Instance::new(dir),
            listen,
            pasv_ports,
            pasv_address,
            max_sessions,
            max_per_ip,
            idle_timeout: seconds("idle_timeout", file.idle_timeout, 300)?,
            login_timeout: seconds("login_timeout", file.login_timeout, 60)?,
            line_timeout: seconds("line_timeout", file.line_timeout, 30)?,
            data_timeout: seconds("data_timeout", file.data_timeout, 30)?,
            bcrypt_cost,
            overwrite: file.overwrite.unwrap_or(true),
            fsync_uploads: file.fsync_uploads.unwrap_or(true),
            throttle,
            allow_signup: flags.allow_signup || file.allow_signup.unwrap_or(false),
            anonymous: flags.anonymous || file.anonymous.unwrap_or(false),
            implicit_tls_listen,
            require_tls: flags.require_tls || file.require_tls.unwrap_or(false),
            tls_session_reuse: file.tls_session_reuse.unwrap_or(true),
            tls_strict_eof: file.tls_strict_eof.unwrap_or(false),
            password_cache: file.password_cache.unwrap_or(true),
            password_cache_ttl: seconds("password_cache_ttl", file.password_cache_ttl, 900)?,
            metrics_listen: file
                .metrics_listen
                .as_deref()
                .map(|s| parse_socket_addr("metrics_listen", s))
                .transpose()?,
            login_safelist: networks("login_safelist", file.login_safelist.unwrap_or_default())?,
            proxy_protocol: file.proxy_protocol.unwrap_or(false),
            proxy_trusted: networks(
                "proxy_trusted",
                file.proxy_trusted
                    .unwrap_or_else(|| vec!["127.0.0.0/8".into(), "::1".into()]),
            )?,
            log: log_target(file.log_file, file.log_syslog, file.syslog_socket)?,
        })
    }

    /// Settings for an in-process server on `127.0.0.1:0` in `dir` (tests and benchmarks).
    pub fn local(dir: impl Into<PathBuf>) -> Settings {
        let flags = Overrides {
            listen: vec!["127.0.0.1:0".into()],
            ..Overrides::default()
        };
        let mut s = Settings::build(dir.into(), FileConfig::default(), flags)
            .unwrap_or_else(|e| unreachable!("built-in defaults are valid: {e}"));
        s.bcrypt_cost = 4;
        s
    }
}

/// Socket addresses from the flags, else the file, else `default` (none when empty).
fn addresses(
    key: &'static str,
    flags: Vec<String>,
    file: Option<Vec<String>>,
    default: &str,
) -> Result<Vec<SocketAddr>, ConfigError> {
    let specs = if !flags.is_empty() {
        flags
    } else {
        file.unwrap_or_else(|| {
            (!default.is_empty())
                .then(|| default.to_owned())
                .into_iter()
                .collect()
        })
    };
    specs.iter().map(|s| parse_socket_addr(key, s)).collect()
}

fn log_target(
    file: Option<PathBuf>,
    syslog: Option<bool>,
    socket: Option<PathBuf>,
) -> Result<LogTarget, ConfigError> {
    match (file, syslog.unwrap_or(false)) {
        (Some(_), true) => Err(value("log_syslog", "choose one of log_file and log_syslog")),
        (Some(path), false) => Ok(LogTarget::File(path)),
        (None, true) => Ok(LogTarget::Syslog(
            socket.unwrap_or_else(|| PathBuf::from("/dev/log")),
        )),
        (None, false) => Ok(LogTarget::Stderr),
    }
}

/// `storage` and the `s3_*` keys; the keys may come from the environment instead.
pub fn storage_choice(file: &FileConfig) -> Result<StorageChoice, ConfigError> {
    match file.storage.as_deref().unwrap_or("local") {
        "local" => Ok(StorageChoice::Local),
        "s3" => {
            let required = |key: &'static str, v: &Option<String>| {
                v.clone()
                    .filter(|s| !s.is_empty())
                    .ok_or_else(|| value(key, "is required with storage = \"s3\""))
            };
            let from_env = |key: &'static str, v: &Option<String>, env: &str| {
                v.clone()
                    .or_else(|| std::env::var(env).ok())
                    .filter(|s| !s.is_empty())
                    .ok_or_else(|| {
                        value(
                            key,
                            &format!("is required with storage = \"s3\" (or {env})"),
                        )
                    })
            };
            let url = required("s3_endpoint", &file.s3_endpoint)?;
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(value("s3_endpoint", "must be an http:// or https:// URL"));
            }
            Ok(StorageChoice::S3 {
                endpoint: crate::storage::s3::Endpoint {
                    url,
                    bucket: required("s3_bucket", &file.s3_bucket)?,
                    region: file.s3_region.clone().unwrap_or_else(|| "us-east-1".into()),
                    access_key: from_env(
                        "s3_access_key_id",
                        &file.s3_access_key_id,
                        "AWS_ACCESS_KEY_ID",
                    )?,
                    secret_key: from_env(
                        "s3_secret_access_key",
                        &file.s3_secret_access_key,
                        "AWS_SECRET_ACCESS_KEY",
                    )?,
                },
                prefix: file.s3_prefix.clone().unwrap_or_default(),
            })
        }
        _ => Err(value("storage", "must be \"local\" or \"s3\"")),
    }
}

/// A list of networks (`login_safelist`, `proxy_trusted`): each an address or CIDR block.
fn networks(key: &'static str, specs: Vec<String>) -> Result<Vec<ipnet::IpNet>, ConfigError> {
    specs
        .iter()
        .map(|spec| {
            crate::protocol::address::parse_net(spec.trim()).ok_or_else(|| {
                value(
                    key,
                    &format!("{spec:?} is not an address or CIDR block (ADDR or ADDR/BITS)"),
                )
            })
        })
        .collect()
}

/// Failed-login throttling: the file's values, else the defaults.
fn throttle_policy(file: &FileConfig) -> ThrottlePolicy {
    let defaults = ThrottlePolicy::default();
    ThrottlePolicy {
        max_failures: file.max_login_failures.unwrap_or(defaults.max_failures),
        window: file
            .login_failure_window
            .map_or(defaults.window, duration::Seconds::duration),
        block: file
            .login_block
            .map_or(defaults.block, duration::Seconds::duration),
    }
}

fn value(key: &'static str, message: &str) -> ConfigError {
    ConfigError::Value {
        key,
        message: message.to_owned(),
    }
}

fn seconds(
    key: &'static str,
    v: Option<duration::Seconds>,
    default: u64,
) -> Result<Duration, ConfigError> {
    match v.map_or(default, |s| s.0) {
        0 => Err(value(key, "must be at least 1 second")),
        s => Ok(Duration::from_secs(s)),
    }
}

fn parse_socket_addr(key: &'static str, s: &str) -> Result<SocketAddr, ConfigError> {
    s.parse().map_err(|_| ConfigError::Value {
        key,
        message: format!("{s:?} is not ADDR:PORT (IPv6 as [::]:PORT)"),
    })
}

/// `LO-HI`, both at least 1024.
pub fn parse_port_range(s: &str) -> Result<RangeInclusive<u16>, ConfigError> {
    let bad = || ConfigError::Value {
        key: "pasv_ports",
        message: format!("{s:?} is not LO-HI with 1024 <= LO <= HI <= 65535"),
    };
    let (lo, hi) = s.split_once('-').ok_or_else(bad)?;
    let lo: u16 = lo.trim().parse().map_err(|_| bad())?;
    let hi: u16 = hi.trim().parse().map_err(|_| bad())?;
    if lo < 1024 || lo > hi {
        return Err(bad());
    }
    Ok(lo..=hi)
}

/// A host name or address for `--pasv-address`; PASV needs IPv4, so that is preferred.
fn resolve_host(s: &str) -> Result<IpAddr, ConfigError> {
    if let Ok(ip) = s.parse() {
        return Ok(ip);
    }
    let addrs: Vec<SocketAddr> = (s, 0)
        .to_socket_addrs()
        .map_err(|e| ConfigError::Value {
            key: "pasv_address",
            message: format!("cannot resolve {s:?}: {e}"),
        })?
        .collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .map(|a| a.ip())
        .ok_or_else(|| value("pasv_address", "resolved to no address"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_key_is_an_error() {
        let err = toml::from_str::<FileConfig>("max_sesions = 3").unwrap_err();
        assert!(err.message().contains("max_sesions"), "{}", err.message());
    }

    #[test]
    fn flags_override_file() {
        let file: FileConfig =
            toml::from_str("max_sessions = 3\npasv_ports = \"50000-50010\"\nidle_timeout = 7")
                .unwrap();
        let flags = Overrides {
            max_sessions: Some(9),
            ..Overrides::default()
        };
        let s = Settings::build(".".into(), file, flags).unwrap();
        assert_eq!(s.max_sessions, 9);
        assert_eq!(s.pasv_ports, Some(50000..=50010));
        assert_eq!(s.idle_timeout, Duration::from_secs(7));
        assert_eq!(
            s.listen,
            vec!["0.0.0.0:5550".parse::<SocketAddr>().unwrap()]
        );
    }

    #[test]
    fn bad_values() {
        assert!(parse_port_range("100-200").is_err());
        assert!(parse_port_range("3000-2000").is_err());
        assert!(parse_port_range("x").is_err());
        let flags = Overrides {
            listen: vec!["nope".into()],
            ..Overrides::default()
        };
        assert!(Settings::build(".".into(), FileConfig::default(), flags).is_err());
    }
}
