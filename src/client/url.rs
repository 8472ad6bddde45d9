//! Server URLs: `[ftp://|ftps://][USER[:PASS]@]HOST[:PORT][/PATH]` → [`Target`], and the
//! same URL with its password hidden for messages. Parses only: no network, no terminal.

use crate::auth::Password;
use crate::client::connection::{Endpoint, Security};

/// Default FTP port (explicit FTPS too).
pub const FTP_PORT: u16 = 21;
/// Default implicit FTPS port.
pub const IMPLICIT_PORT: u16 = 990;

/// A URL with any `:password` before the `@` replaced by `***`.
pub fn redact_url(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let prefix = if scheme.is_empty() {
        String::new()
    } else {
        format!("{scheme}://")
    };
    match rest.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            let hidden = if userinfo.contains(':') { ":***" } else { "" };
            format!("{prefix}{user}{hidden}@{host}")
        }
        None => url.to_owned(),
    }
}

/// Where and how to connect, and as whom: the parsed `[ftp://|ftps://][USER[:PASS]@]HOST[:PORT][/PATH]`.
#[derive(Debug, Clone)]
pub struct Target {
    pub security: Security,
    pub endpoint: Endpoint,
    pub user: Option<String>,
    pub password: Option<Password>,
    /// A directory to change to after login.
    pub path: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("unsupported scheme {0}:// (use ftp:// or ftps://)")]
    Scheme(String),
    #[error("no host in {0:?}")]
    NoHost(String),
    #[error("bad port in {0:?}")]
    Port(String),
}

impl Target {
    /// Parses a URL; `implicit` (from `--implicit`) asks for implicit TLS whatever the scheme.
    pub fn parse(url: &str, implicit: bool) -> Result<Target, UrlError> {
        let redacted = redact_url(url);
        let (scheme, rest) = match url.split_once("://") {
            Some((s, r)) => (s.to_ascii_lowercase(), r),
            None => ("ftp".to_owned(), url),
        };
        let security = match (scheme.as_str(), implicit) {
            (_, true) if scheme == "ftp" || scheme == "ftps" => Security::Implicit,
            ("ftp", false) => Security::None,
            ("ftps", false) => Security::Explicit,
            _ => return Err(UrlError::Scheme(scheme)),
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], Some(&rest[i..])),
            None => (rest, None),
        };
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let (user, password) = match userinfo {
            None => (None, None),
            Some(u) => match u.split_once(':') {
                Some((name, pw)) => (
                    Some(percent_decode(name)),
                    Some(Password::new(percent_decode(pw))),
                ),
                None => (Some(percent_decode(u)), None),
            },
        };
        let (host, port) = split_host_port(hostport).ok_or(UrlError::Port(redacted.clone()))?;
        if host.is_empty() {
            return Err(UrlError::NoHost(redacted));
        }
        let port = port.unwrap_or(if security == Security::Implicit {
            IMPLICIT_PORT
        } else {
            FTP_PORT
        });
        let path = path
            .map(percent_decode)
            .filter(|p| p != "/" && !p.is_empty());
        Ok(Target {
            security,
            endpoint: Endpoint {
                host: host.to_owned(),
                port,
            },
            user: user.filter(|u| !u.is_empty()),
            password,
            path,
        })
    }
}

/// `host`, `host:port`, `[v6]`, `[v6]:port`; `None` for a bad port.
fn split_host_port(s: &str) -> Option<(&str, Option<u16>)> {
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        return match after.strip_prefix(':') {
            Some(p) => Some((host, Some(p.parse().ok()?))),
            None if after.is_empty() => Some((host, None)),
            None => None,
        };
    }
    match s.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => Some((host, Some(port.parse().ok()?))),
        // A bare IPv6 address without brackets: no port.
        Some(_) => Some((s, None)),
        None => Some((s, None)),
    }
}

/// `%XX` escapes in URL parts (user names and passwords with `@`, `:` or `/`).
fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}
