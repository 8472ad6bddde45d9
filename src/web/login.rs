//! Signing in to the web client: the login form, the FTP connection it opens (with the
//! certificate check of an FTPS server) and the trust-on-first-use answer.

use std::net::IpAddr;
use std::sync::{Arc, PoisonError};

use crate::auth::Password;
use crate::client::connection::{Connection, Endpoint, Error as FtpError, Security};
use crate::web::ftp::{self};
use crate::web::html::{form_value, percent_encode};
use crate::web::pages::{self, LoginForm};
use crate::web::respond::{Answer, error_page, page};
use crate::web::{FtpLogin, Session, State, lock};

fn login_again(
    s: &Session,
    status: u16,
    error: String,
    host: &str,
    port: u16,
    user: &str,
    tls: bool,
) -> Answer {
    let csrf = lock(s).csrf.clone();
    let body = pages::login(
        &csrf,
        &LoginForm {
            host,
            port,
            user,
            tls,
        },
    );
    Answer::Page {
        status,
        title: "Connect".into(),
        body,
        error: Some(error),
    }
}

pub(super) fn login(
    state: &State,
    ip: Option<IpAddr>,
    form: &[(String, String)],
    s: &Session,
) -> Answer {
    let host = form_value(form, "host").unwrap_or("").trim().to_owned();
    let user = form_value(form, "user").unwrap_or("").trim().to_owned();
    let password = Password::new(form_value(form, "password").unwrap_or("").to_owned());
    let tls = form_value(form, "tls").is_some_and(|v| v == "on");
    let port = match form_value(form, "port")
        .unwrap_or("21")
        .trim()
        .parse::<u16>()
    {
        Ok(p) if p > 0 => p,
        _ => {
            return login_again(
                s,
                400,
                "The port must be a number from 1 to 65535.".into(),
                &host,
                21,
                &user,
                tls,
            );
        }
    };
    if host.is_empty() || user.is_empty() {
        return login_again(
            s,
            400,
            "Host and user are required.".into(),
            &host,
            port,
            &user,
            tls,
        );
    }
    let pending = FtpLogin {
        host: host.clone(),
        endpoint: Endpoint {
            host: String::new(),
            port,
        },
        user: user.clone(),
        password,
        security: if tls {
            Security::Explicit
        } else {
            Security::None
        },
        pin: None,
        home: "/".into(),
    };
    connect_and_finish(state, ip, s, pending)
}

/// Shared by /login and /trust: rate limit, allowlist, connect, log in.
fn connect_and_finish(
    state: &State,
    ip: Option<IpAddr>,
    s: &Session,
    mut pending: FtpLogin,
) -> Answer {
    let (host, port, user, tls) = (
        pending.host.clone(),
        pending.endpoint.port,
        pending.user.clone(),
        pending.security != Security::None,
    );
    // SECURITY: password guessing through this page is as limited as at the FTP port.
    if ip.is_some_and(|ip| state.login_failures.is_blocked(ip)) {
        return login_again(
            s,
            429,
            "Too many failed logins from your address; wait a few minutes.".into(),
            &host,
            port,
            &user,
            tls,
        );
    }
    // Only a wrong password counts against the address: a typo in the host, a server outside
    // web_allowed_servers or one that is down is an honest mistake, not a guess.
    let fail =
        |status: u16, message: String| login_again(s, status, message, &host, port, &user, tls);
    // SECURITY: connect only where web_allowed_servers allows, to the very address checked
    // (no SSRF, no port scanning, no DNS rebinding between check and connect).
    let addr = match state.allow.resolve(&host, port) {
        Ok(a) => a,
        Err(e) => return fail(403, e),
    };
    pending.endpoint = Endpoint {
        host: addr.ip().to_string(),
        port,
    };
    if tls && pending.pin.is_none() {
        pending.pin = remembered_pin(state, &pending.endpoint);
    }
    match ftp::open(&pending) {
        Ok((conn, home)) => logged_in(s, ip, pending, conn, home),
        Err(FtpError::UnknownCertificate { fingerprint, .. }) => {
            let mut entry = lock(s);
            let body = pages::trust_question(&entry.csrf, &format!("{host}:{port}"), &fingerprint);
            entry.data.pending = Some((pending, fingerprint));
            page(200, "Trust certificate?", body)
        }
        Err(e @ FtpError::CertificateChanged { .. }) => fail(502, e.to_string()),
        Err(FtpError::Reply(r)) if r.code == 530 => {
            if let Some(ip) = ip {
                state.login_failures.record(ip);
            }
            log::warn!(
                "web login failed: user={user} server={} ip={}",
                pending.endpoint,
                ip.map_or("-".into(), |i| i.to_string())
            );
            fail(401, format!("Login failed: {}", r.last_line()))
        }
        Err(e) => fail(502, e.to_string()),
    }
}

/// The certificate fingerprint the web client trusted before for this server, if any.
fn remembered_pin(state: &State, endpoint: &Endpoint) -> Option<String> {
    state
        .known_hosts
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .lookup(&endpoint.key())
        .map(str::to_owned)
}

/// A login that worked: the session keeps it and its idle connection, and goes home.
fn logged_in(
    s: &Session,
    ip: Option<IpAddr>,
    mut login: FtpLogin,
    conn: Connection,
    home: String,
) -> Answer {
    log::info!(
        "web login ok: user={} server={} ip={}",
        login.user,
        login.endpoint,
        ip.map_or("-".into(), |i| i.to_string())
    );
    let notice = format!(
        "Connected to {}:{} as {}.",
        login.host, login.endpoint.port, login.user
    );
    login.home = home.clone();
    let replaced = {
        let mut entry = lock(s);
        entry.notice = Some(notice);
        entry.data.login = Some(Arc::new(login));
        entry.data.pending = None;
        entry.data.idle.replace(conn)
    };
    // A previous login's connection closes here, with the session unlocked.
    drop(replaced);
    Answer::Redirect(format!("/browse?path={}", percent_encode(&home)))
}

pub(super) fn trust(
    state: &State,
    ip: Option<IpAddr>,
    form: &[(String, String)],
    s: &Session,
) -> Answer {
    let posted = form_value(form, "fingerprint").unwrap_or("").to_owned();
    let Some((mut pending, fingerprint)) = lock(s).data.pending.take() else {
        return Answer::Redirect("/".into());
    };
    if posted != fingerprint {
        return error_page(
            400,
            "The certificate changed while you were deciding; connect again.",
            "/",
        );
    }
    let key = pending.endpoint.key();
    if let Err(e) = state
        .known_hosts
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .pin(&key, &fingerprint)
    {
        log::warn!("cannot save the pinned certificate of {key}: {e}");
    }
    pending.pin = Some(fingerprint);
    connect_and_finish(state, ip, s, pending)
}
