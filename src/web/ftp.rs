//! The FTP connections of a browser session, checked out for one request at a time. The
//! session's lock is held only to take a connection and to give it back, never across FTP
//! I/O: a download that takes an hour (or a browser that stops reading it) stalls neither
//! other users nor the same user's other pages, which get a connection of their own.
//!
//! A session keeps at most one idle connection (the one made at login, reused request after
//! request); a request that finds none opens one with the session's login. What a session
//! may have open at once is bounded by [`MAX_PER_SESSION`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::client::connection::{Connection, Error as FtpError};
use crate::client::trust::TrustPolicy;
use crate::web::{FtpLogin, Session, lock};

/// How long connecting to an FTP server may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// FTP connections one browser session may use at once: browsers open six connections per
/// site, so a page's parallel downloads fit. One more request gets 503 at once.
pub const MAX_PER_SESSION: usize = 6;

/// Why a request got no connection.
#[derive(Debug, PartialEq, Eq)]
pub enum Unavailable {
    /// The session is not logged in (or logged out meanwhile).
    LoggedOut,
    /// [`MAX_PER_SESSION`] connections are in use.
    Busy,
}

/// Connects and logs in; returns the connection and the login directory.
pub fn open(login: &FtpLogin) -> Result<(Connection, String), FtpError> {
    let trust = TrustPolicy::Pinned(login.pin.clone());
    let mut conn = Connection::connect(&login.endpoint, login.security, trust, CONNECT_TIMEOUT)?;
    conn.login(&login.user, &login.password)?;
    let home = conn.pwd().unwrap_or_else(|_| "/".into());
    Ok((conn, home))
}

/// One request's hold on an FTP connection of its session; gives it back on drop.
pub struct Checkout {
    session: Session,
    /// The login it was taken under: a connection goes back only to the same login.
    login: Arc<FtpLogin>,
    conn: Option<Connection>,
}

impl Checkout {
    /// Takes the session's idle connection (or the right to open one).
    pub fn take(session: &Session) -> Result<Checkout, Unavailable> {
        let mut entry = lock(session);
        let login = entry
            .data
            .login
            .as_ref()
            .map(Arc::clone)
            .ok_or(Unavailable::LoggedOut)?;
        // SECURITY: one browser cannot open connections to the FTP server without bound.
        if entry.in_use >= MAX_PER_SESSION {
            return Err(Unavailable::Busy);
        }
        entry.in_use += 1;
        let conn = entry.data.idle.take();
        drop(entry);
        Ok(Checkout {
            session: Arc::clone(session),
            login,
            conn,
        })
    }

    /// The login this connection belongs to (for pages: user, server).
    pub fn login(&self) -> &FtpLogin {
        &self.login
    }

    /// Runs `op`, reconnecting once if the server had dropped the connection. Only for
    /// operations that can be repeated: nothing may have been streamed yet.
    pub fn run<T>(
        &mut self,
        mut op: impl FnMut(&mut Connection) -> Result<T, FtpError>,
    ) -> Result<T, FtpError> {
        match op(self.connection()?) {
            // A server that closed an idle connection answers the next command with 421.
            Err(e) if dropped(&e) => {
                self.conn = None;
                op(self.connection()?)
            }
            other => other,
        }
    }

    /// Runs a transfer once (a repeat would send again what was streamed already). A failed
    /// transfer's connection is closed at once: after an ABOR, servers differ in how many
    /// replies they send and when (pyftpdlib: 426 and 225, in either order), so its reply
    /// stream cannot be trusted; what the request does next (removing its partial upload)
    /// runs on a fresh connection.
    pub fn transfer<T>(
        &mut self,
        op: impl FnOnce(&mut Connection) -> Result<T, FtpError>,
    ) -> Result<T, FtpError> {
        let result = op(self.connection()?);
        if result.is_err() {
            self.conn = None;
        }
        result
    }

    fn connection(&mut self) -> Result<&mut Connection, FtpError> {
        if self.conn.is_none() {
            let (conn, _) = open(&self.login)?;
            self.conn = Some(conn);
        }
        self.conn
            .as_mut()
            .ok_or_else(|| FtpError::Invalid("no FTP connection".into()))
    }
}

impl Drop for Checkout {
    fn drop(&mut self) {
        let conn = self.conn.take();
        let surplus = {
            let mut entry = lock(&self.session);
            entry.in_use = entry.in_use.saturating_sub(1);
            // The idle clock runs from the end of a request: a long transfer is not idleness.
            entry.last_seen = Instant::now();
            let same_login = entry
                .data
                .login
                .as_ref()
                .is_some_and(|l| Arc::ptr_eq(l, &self.login));
            if same_login && entry.data.idle.is_none() {
                entry.data.idle = conn;
                None
            } else {
                conn
            }
        };
        // Closing a connection is I/O: done here, with the session unlocked.
        drop(surplus);
    }
}

/// The error of a connection the server (or the network) has dropped.
fn dropped(e: &FtpError) -> bool {
    matches!(e, FtpError::Io(_) | FtpError::Timeout { .. }) || e.code() == Some(421)
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::auth::Password;
    use crate::client::connection::{Endpoint, Security};
    use crate::web::WebSession;
    use crate::web::sessions::Entry;

    fn session(logged_in: bool) -> Session {
        let login = FtpLogin {
            host: "127.0.0.1".into(),
            endpoint: Endpoint {
                host: "127.0.0.1".into(),
                port: 21,
            },
            user: "alice".into(),
            password: Password::new("pw".into()),
            security: Security::None,
            pin: None,
            home: "/".into(),
        };
        Arc::new(Mutex::new(Entry {
            csrf: String::new(),
            last_seen: Instant::now(),
            notice: None,
            in_use: 0,
            data: WebSession {
                login: logged_in.then(|| Arc::new(login)),
                ..WebSession::default()
            },
        }))
    }

    #[test]
    fn checkouts_are_bounded_and_counted() {
        let s = session(true);
        let held: Vec<Checkout> = (0..MAX_PER_SESSION)
            .map(|_| Checkout::take(&s).expect("within the bound"))
            .collect();
        assert_eq!(lock(&s).in_use, MAX_PER_SESSION);
        assert_eq!(Checkout::take(&s).err(), Some(Unavailable::Busy));
        drop(held);
        assert_eq!(lock(&s).in_use, 0, "every checkout gave its place back");
        assert!(Checkout::take(&s).is_ok());
    }

    #[test]
    fn no_login_no_connection() {
        assert_eq!(
            Checkout::take(&session(false)).err(),
            Some(Unavailable::LoggedOut)
        );
    }
}
