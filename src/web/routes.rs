//! The whole URL space of the web client, one handler per route. Handlers take the parsed
//! request and the browser's session; pages come from `pages`, escaping from `html`.

use std::io::{Read, Write};
use std::net::IpAddr;
use std::sync::{Arc, PoisonError};

use tiny_http::{Header, Method, Request, Response, StatusCode};

use crate::auth::Password;
use crate::client::connection::{Connection, Endpoint, Error as FtpError, Security};
use crate::web::ftp::{self, Checkout, MAX_PER_SESSION, Unavailable};
use crate::web::html::{self, content_disposition, escape, form_value, parse_form, percent_encode};
use crate::web::multipart::{self, Multipart, PartReader};
use crate::web::pages::{self, LoginForm, Row};
use crate::web::sessions::{self, COOKIE};
use crate::web::{FtpLogin, Session, State, WebSession, lock};

/// Largest urlencoded form body (login, mkdir, delete...).
const MAX_FORM_BYTES: usize = 64 * 1024;
/// Largest upload request.
const MAX_UPLOAD_BYTES: u64 = 64 * 1024 * 1024 * 1024;

const SECURITY_HEADERS: &[(&str, &str)] = &[
    (
        "Content-Security-Policy",
        "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; connect-src 'self'; \
         form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    ),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
    ("Cache-Control", "no-store"),
];

/// What a handler answers (downloads write their own response and answer `Done`).
pub enum Answer {
    Page {
        status: u16,
        title: String,
        body: String,
        error: Option<String>,
    },
    Redirect(String),
    /// A short plain-text answer (the upload destination for the page's script).
    Text(String),
    NoContent,
    Static {
        content_type: &'static str,
        body: &'static str,
    },
    Done,
}

fn page(status: u16, title: &str, body: String) -> Answer {
    Answer::Page {
        status,
        title: title.to_owned(),
        body,
        error: None,
    }
}

fn error_page(status: u16, message: impl Into<String>, back: &str) -> Answer {
    let body = format!(
        "<p><a class=\"button secondary\" href=\"{}\">Back</a></p>",
        escape(back)
    );
    Answer::Page {
        status,
        title: "Error".into(),
        body,
        error: Some(message.into()),
    }
}

fn header(name: &str, value: &str) -> Option<Header> {
    Header::from_bytes(name.as_bytes(), value.as_bytes()).ok()
}

/// Serves one request.
pub fn handle(state: &State, mut request: Request) {
    let ip = request
        .remote_addr()
        .map(|a| crate::protocol::address::canonical(a.ip()));
    let (path, query) = match request.url().split_once('?') {
        Some((p, q)) => (p.to_owned(), q.to_owned()),
        None => (request.url().to_owned(), String::new()),
    };
    let cookie = request
        .headers()
        .iter()
        .find(|h| h.field.equiv("Cookie"))
        .and_then(|h| sessions::cookie_value(h.value.as_str(), COOKIE).map(str::to_owned));
    let existing = cookie
        .as_deref()
        .and_then(|id| state.sessions.get(id).map(|s| (id.to_owned(), s)));
    let method = request.method().clone();
    let mut set_cookie = None;
    // Pages belong to a session. SECURITY: only the login page starts one, so a flood of
    // cookie-less requests elsewhere cannot fill the session table.
    let starts_session = method == Method::Get && path == "/";
    let session = match (&existing, starts_session) {
        (Some((id, s)), _) => Some((id.clone(), Arc::clone(s))),
        (None, false) => None,
        (None, true) => match state
            .sessions
            .create(WebSession::default(), |w: &WebSession| w.login.is_none())
        {
            Some((id, s)) => {
                set_cookie = Some(sessions::set_cookie(&id, false));
                Some((id, s))
            }
            None => {
                respond(
                    request,
                    error_page(503, "Too many sessions; try again later.", "/"),
                    None,
                    None,
                );
                return;
            }
        },
    };
    let answer = match (&method, path.as_str(), &session) {
        (Method::Get, "/static/style.css", _) => Answer::Static {
            content_type: "text/css; charset=utf-8",
            body: include_str!("assets/style.css"),
        },
        (Method::Get, "/static/app.js", _) => Answer::Static {
            content_type: "text/javascript; charset=utf-8",
            body: include_str!("assets/app.js"),
        },
        (Method::Get, "/favicon.ico", _) => Answer::NoContent,
        (Method::Get, _, None) => Answer::Redirect("/".into()),
        (_, _, None) => error_page(
            403,
            "This form has expired or did not come from this page; please try again.",
            "/",
        ),
        (Method::Get, "/", Some((_, s))) => index(s),
        (Method::Post, "/login", Some((_, s))) => {
            with_form(&mut request, s, |form, s| login(state, ip, form, s))
        }
        (Method::Post, "/trust", Some((_, s))) => {
            with_form(&mut request, s, |form, s| trust(state, ip, form, s))
        }
        (Method::Get, "/browse", Some((_, s))) => browse(s, &query),
        (Method::Get, "/delete", Some((_, s))) => confirm_delete(s, &query),
        (Method::Post, "/delete", Some((_, s))) => with_form(&mut request, s, delete),
        (Method::Post, "/mkdir", Some((_, s))) => with_form(&mut request, s, mkdir),
        (Method::Post, "/logout", Some((id, s))) => with_form(&mut request, s, |_, _| {
            state.sessions.remove(id);
            set_cookie = Some(sessions::set_cookie("", true));
            Answer::Redirect("/".into())
        }),
        (Method::Post, "/upload", Some((_, s))) => {
            // The page's script uploads in the background: it wants the destination as text
            // (a followed redirect would use up the one-time notice) and errors as pages.
            let scripted = request
                .headers()
                .iter()
                .any(|h| h.field.equiv("X-Ferroftp-Upload"));
            match upload(&mut request, s, &query) {
                Answer::Redirect(location) if scripted => Answer::Text(location),
                other => other,
            }
        }
        (Method::Get, "/download", Some((_, s))) => {
            return download(request, s, &query, set_cookie);
        }
        _ => error_page(404, "Not found.", "/"),
    };
    // SECURITY: a new session id at login, so an id planted before login (session
    // fixation) is worthless afterwards; the CSRF token changes with it.
    if let (Method::Post, "/login" | "/trust", Some((id, s)), Answer::Redirect(_)) =
        (&method, path.as_str(), &session, &answer)
    {
        let logged_in = lock(s).data.login.is_some();
        if logged_in && let Some(new_id) = state.sessions.rotate(id) {
            set_cookie = Some(sessions::set_cookie(&new_id, false));
        }
    }
    let notice = session.as_ref().and_then(|(_, s)| {
        if matches!(answer, Answer::Page { .. }) {
            lock(s).notice.take()
        } else {
            None
        }
    });
    respond(request, answer, set_cookie, notice);
}

fn respond(request: Request, answer: Answer, set_cookie: Option<String>, notice: Option<String>) {
    let mut headers: Vec<Header> = SECURITY_HEADERS
        .iter()
        .filter_map(|(k, v)| header(k, v))
        .collect();
    if let Some(c) = &set_cookie {
        headers.extend(header("Set-Cookie", c));
    }
    let response = match answer {
        Answer::Done => return,
        Answer::NoContent => Response::from_string(String::new()).with_status_code(StatusCode(204)),
        Answer::Text(text) => {
            headers.extend(header("Content-Type", "text/plain; charset=utf-8"));
            Response::from_string(text).with_status_code(StatusCode(200))
        }
        Answer::Redirect(location) => {
            headers.extend(header("Location", &location));
            Response::from_string(String::new()).with_status_code(StatusCode(303))
        }
        Answer::Static { content_type, body } => {
            headers.extend(header("Content-Type", content_type));
            Response::from_string(body).with_status_code(StatusCode(200))
        }
        Answer::Page {
            status,
            title,
            body,
            error,
        } => {
            headers.extend(header("Content-Type", "text/html; charset=utf-8"));
            let html = html::page(&title, notice.as_deref(), error.as_deref(), &body);
            Response::from_string(html).with_status_code(StatusCode(status))
        }
    };
    let response = headers.into_iter().fold(response, |r, h| r.with_header(h));
    if let Err(e) = request.respond(response) {
        log::debug!("web response failed: {e}");
    }
}

/// Reads an urlencoded POST body and checks its CSRF token before calling `f`.
fn with_form(
    request: &mut Request,
    s: &Session,
    f: impl FnOnce(&[(String, String)], &Session) -> Answer,
) -> Answer {
    if request.body_length().is_some_and(|n| n > MAX_FORM_BYTES) {
        return error_page(413, "Form too large.", "/");
    }
    let mut body = Vec::new();
    let limit = MAX_FORM_BYTES as u64 + 1;
    if request
        .as_reader()
        .take(limit)
        .read_to_end(&mut body)
        .is_err()
    {
        return error_page(400, "Could not read the form.", "/");
    }
    if body.len() > MAX_FORM_BYTES {
        return error_page(413, "Form too large.", "/");
    }
    let form = parse_form(&String::from_utf8_lossy(&body));
    let expected = lock(s).csrf.clone();
    // SECURITY: a form posted from another site carries no valid token (CSRF).
    if !form_value(&form, "csrf").is_some_and(|t| sessions::same_token(t, &expected)) {
        return error_page(
            403,
            "This form has expired or did not come from this page; please try again.",
            "/",
        );
    }
    f(&form, s)
}

fn query_value(query: &str, key: &str) -> Option<String> {
    parse_form(query)
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
}

fn index(s: &Session) -> Answer {
    let entry = lock(s);
    if let Some(login) = &entry.data.login {
        return Answer::Redirect(format!("/browse?path={}", percent_encode(&login.home)));
    }
    let form = LoginForm {
        host: "127.0.0.1",
        port: 5550,
        user: "",
        tls: false,
    };
    page(200, "Connect", pages::login(&entry.csrf, &form))
}

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

fn login(state: &State, ip: Option<IpAddr>, form: &[(String, String)], s: &Session) -> Answer {
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
    let fail = |status: u16, message: String| {
        if let Some(ip) = ip {
            state.login_failures.record(ip);
        }
        login_again(s, status, message, &host, port, &user, tls)
    };
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
        pending.pin = state
            .known_hosts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .lookup(&pending.endpoint.key())
            .map(str::to_owned);
    }
    match ftp::open(&pending) {
        Ok((conn, home)) => {
            log::info!(
                "web login ok: user={user} server={} ip={}",
                pending.endpoint,
                ip.map_or("-".into(), |i| i.to_string())
            );
            pending.home = home.clone();
            let replaced = {
                let mut entry = lock(s);
                entry.notice = Some(format!("Connected to {host}:{port} as {user}."));
                entry.data.login = Some(Arc::new(pending));
                entry.data.pending = None;
                entry.data.idle.replace(conn)
            };
            // A previous login's connection closes here, with the session unlocked.
            drop(replaced);
            Answer::Redirect(format!("/browse?path={}", percent_encode(&home)))
        }
        Err(FtpError::UnknownCertificate { fingerprint, .. }) => {
            let mut entry = lock(s);
            let body = pages::trust_question(&entry.csrf, &format!("{host}:{port}"), &fingerprint);
            entry.data.pending = Some((pending, fingerprint));
            page(200, "Trust certificate?", body)
        }
        Err(e @ FtpError::CertificateChanged { .. }) => fail(502, e.to_string()),
        Err(FtpError::Reply(r)) if r.code == 530 => {
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

fn trust(state: &State, ip: Option<IpAddr>, form: &[(String, String)], s: &Session) -> Answer {
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

/// The answer when a request gets no FTP connection.
fn unavailable(e: Unavailable) -> Answer {
    match e {
        Unavailable::LoggedOut => Answer::Redirect("/".into()),
        Unavailable::Busy => error_page(
            503,
            format!(
                "This session already runs {MAX_PER_SESSION} requests; wait for a transfer \
                 to finish."
            ),
            "/",
        ),
    }
}

fn ftp_error_status(e: &FtpError) -> u16 {
    match e.code() {
        Some(550) => 404,
        Some(553) | Some(532) | Some(530) => 403,
        _ => 502,
    }
}

fn clean_path(p: &str) -> String {
    let p = p.trim();
    if p.starts_with('/') {
        p.to_owned()
    } else {
        format!("/{p}")
    }
}

fn browse(s: &Session, query: &str) -> Answer {
    let path = clean_path(&query_value(query, "path").unwrap_or_else(|| "/".into()));
    let mut ftp = match Checkout::take(s) {
        Ok(ftp) => ftp,
        Err(e) => return unavailable(e),
    };
    let lines = match ftp.run(|c| c.list(Some(&path))) {
        Ok(lines) => lines,
        Err(e) => {
            let status = ftp_error_status(&e);
            return error_page(
                status,
                format!("Cannot list {path}: {e}"),
                "/browse?path=%2F",
            );
        }
    };
    let rows: Vec<Row> = lines.iter().filter_map(|l| Row::parse(l)).collect();
    let login = ftp.login();
    let server = format!("{}:{}", login.host, login.endpoint.port);
    let csrf = lock(s).csrf.clone();
    let body = pages::browser(&pages::Browser {
        csrf: &csrf,
        path: &path,
        user: &login.user,
        server: &server,
        rows: &rows,
    });
    page(200, &path, body)
}

fn confirm_delete(s: &Session, query: &str) -> Answer {
    let path = clean_path(&query_value(query, "path").unwrap_or_default());
    let is_dir = query_value(query, "dir").is_some_and(|d| d == "1");
    let entry = lock(s);
    if entry.data.login.is_none() {
        return Answer::Redirect("/".into());
    }
    page(
        200,
        "Delete?",
        pages::confirm_delete(&entry.csrf, &path, is_dir),
    )
}

fn parent_of(path: &str) -> String {
    match path.trim_end_matches('/').rfind('/') {
        Some(0) | None => "/".into(),
        Some(i) => path[..i].to_owned(),
    }
}

fn delete(form: &[(String, String)], s: &Session) -> Answer {
    let path = clean_path(form_value(form, "path").unwrap_or_default());
    let is_dir = form_value(form, "dir") == Some("1");
    let back = format!("/browse?path={}", percent_encode(&parent_of(&path)));
    let mut ftp = match Checkout::take(s) {
        Ok(ftp) => ftp,
        Err(e) => return unavailable(e),
    };
    match ftp.run(|c| {
        if is_dir {
            c.rmdir(&path)
        } else {
            c.delete(&path)
        }
    }) {
        Ok(()) => {
            lock(s).notice = Some(format!("Deleted {path}."));
            Answer::Redirect(back)
        }
        Err(e) => error_page(
            ftp_error_status(&e),
            format!("Cannot delete {path}: {e}"),
            &back,
        ),
    }
}

/// A single file or directory name typed or uploaded by the user: no separators, no
/// control characters, not `.`/`..`.
fn valid_name(name: &str) -> Option<&str> {
    let name = name.trim();
    let ok = !name.is_empty()
        && name != "."
        && name != ".."
        && !name.contains(['/', '\\'])
        && !name.chars().any(char::is_control);
    ok.then_some(name)
}

fn mkdir(form: &[(String, String)], s: &Session) -> Answer {
    let dir = clean_path(form_value(form, "dir").unwrap_or("/"));
    let back = format!("/browse?path={}", percent_encode(&dir));
    let Some(name) = valid_name(form_value(form, "name").unwrap_or("")) else {
        return error_page(400, "Please give a plain directory name.", &back);
    };
    let path = pages::join(&dir, name);
    let mut ftp = match Checkout::take(s) {
        Ok(ftp) => ftp,
        Err(e) => return unavailable(e),
    };
    match ftp.run(|c| c.mkdir(&path)) {
        Ok(()) => {
            lock(s).notice = Some(format!("Created {path}."));
            Answer::Redirect(back)
        }
        // 550 on MKD is nearly always "it exists": a conflict, not a missing page.
        Err(e) => {
            let status = if e.code() == Some(550) {
                409
            } else {
                ftp_error_status(&e)
            };
            error_page(status, format!("Cannot create {path}: {e}"), &back)
        }
    }
}

fn download(request: Request, s: &Session, query: &str, set_cookie: Option<String>) {
    let path = match (
        query_value(query, "path"),
        query_value(query, "dir"),
        query_value(query, "name"),
    ) {
        (Some(p), _, _) => clean_path(&p),
        (None, Some(d), Some(n)) => match valid_name(&n) {
            Some(n) => pages::join(&clean_path(&d), n),
            None => {
                return respond(
                    request,
                    error_page(400, "Please give an exact file name.", "/"),
                    set_cookie,
                    None,
                );
            }
        },
        _ => {
            return respond(
                request,
                error_page(400, "Which file?", "/"),
                set_cookie,
                None,
            );
        }
    };
    let back = format!("/browse?path={}", percent_encode(&parent_of(&path)));
    let mut ftp = match Checkout::take(s) {
        Ok(ftp) => ftp,
        Err(e) => return respond(request, unavailable(e), set_cookie, None),
    };
    let size = match ftp.run(|c| c.size(&path)) {
        Ok(n) => n,
        Err(e) => {
            let answer = error_page(
                ftp_error_status(&e),
                format!("Cannot download {path}: {e}"),
                &back,
            );
            return respond(request, answer, set_cookie, None);
        }
    };
    let name = path.rsplit('/').next().unwrap_or("download");
    let head = download_head(name, size, set_cookie.as_deref());
    let mut writer = request.into_writer();
    if writer.write_all(head.as_bytes()).is_err() {
        return;
    }
    // Streams FTP data straight into the HTTP response: no copy of the file in memory, and
    // no lock held (the connection is this request's own). Never repeated: the bytes
    // already written cannot be taken back.
    if let Err(e) = ftp.transfer(|c| c.get(&path, 0, &mut writer)) {
        log::info!("web download of {path} failed: {e}");
    }
    let _ = writer.flush();
}

/// The response head of a download (written by hand: the body is streamed).
fn download_head(name: &str, size: u64, set_cookie: Option<&str>) -> String {
    let mut head = String::from(
        "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n",
    );
    head.push_str(&format!(
        "Content-Length: {size}\r\nContent-Disposition: {}\r\n",
        content_disposition(name)
    ));
    for (k, v) in SECURITY_HEADERS {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if let Some(c) = set_cookie {
        head.push_str(&format!("Set-Cookie: {c}\r\n"));
    }
    head.push_str("\r\n");
    head
}

fn upload(request: &mut Request, s: &Session, query: &str) -> Answer {
    let dir = clean_path(&query_value(query, "dir").unwrap_or_else(|| "/".into()));
    let back = format!("/browse?path={}", percent_encode(&dir));
    if request
        .body_length()
        .is_some_and(|n| n as u64 > MAX_UPLOAD_BYTES)
    {
        return error_page(413, "That upload is too large.", &back);
    }
    let content_type = request
        .headers()
        .iter()
        .find(|h| h.field.equiv("Content-Type"))
        .map(|h| h.value.as_str().to_owned());
    let Some(boundary) = content_type.as_deref().and_then(multipart::boundary) else {
        return error_page(400, "Uploads must be sent as multipart/form-data.", &back);
    };
    let mut parts = Multipart::new(request.as_reader(), &boundary);
    // SECURITY: the CSRF token is the form's first field, checked before any file is read.
    let token_ok = match parts.next_part() {
        Ok(Some(h)) if h.name == "csrf" && h.filename.is_none() => {
            let mut token = Vec::new();
            let ok = PartReader(&mut parts)
                .take(256)
                .read_to_end(&mut token)
                .is_ok();
            let expected = lock(s).csrf.clone();
            ok && sessions::same_token(&String::from_utf8_lossy(&token), &expected)
        }
        _ => false,
    };
    if !token_ok {
        return error_page(
            403,
            "This form has expired or did not come from this page; please try again.",
            &back,
        );
    }
    let mut ftp = match Checkout::take(s) {
        Ok(ftp) => ftp,
        Err(e) => return unavailable(e),
    };
    let mut done = Vec::new();
    loop {
        let headers = match parts.next_part() {
            Ok(Some(h)) => h,
            Ok(None) => break,
            Err(e) => return error_page(400, format!("The upload was malformed: {e}"), &back),
        };
        let Some(raw_name) = headers.filename.filter(|_| headers.name == "file") else {
            continue;
        };
        if raw_name.is_empty() {
            continue;
        }
        // Browsers may send a path ("C:\dir\a.txt"); keep the last component.
        let base = raw_name.rsplit(['/', '\\']).next().unwrap_or("").to_owned();
        let Some(name) = valid_name(&base).map(str::to_owned) else {
            return error_page(400, format!("Refusing the file name {raw_name:?}."), &back);
        };
        if let Err(e) = upload_one(&mut ftp, &mut parts, &pages::join(&dir, &name)) {
            let status = if matches!(e, FtpError::LocalRead(_)) {
                400
            } else {
                ftp_error_status(&e)
            };
            return error_page(status, format!("Upload of {name} failed: {e}"), &back);
        }
        done.push(name);
    }
    if done.is_empty() {
        return error_page(400, "No file was selected.", &back);
    }
    lock(s).notice = Some(format!(
        "Uploaded {} file(s): {}.",
        done.len(),
        done.join(", ")
    ));
    Answer::Redirect(back)
}

/// Streams the current part to `target`; a failure on the browser's side removes what it
/// may have left, when that can only be our partial.
fn upload_one(
    ftp: &mut Checkout,
    parts: &mut Multipart<impl Read>,
    target: &str,
) -> Result<u64, FtpError> {
    // SIZE first: what was there decides what a failure may clean up. It also checks the
    // connection (reconnecting once) before the transfer, which cannot be repeated.
    let before = ftp.run(|c| probe(c, target))?;
    let mut input = Counted::new(PartReader(parts));
    let result = ftp.transfer(|c| c.put(target, &mut input));
    if let Err(FtpError::LocalRead(_)) = &result {
        let sent = input.count();
        let _ = ftp.run(|c| remove_partial(c, target, before, sent));
    }
    result
}

/// What `SIZE` said about an upload's target before the upload started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Before {
    /// A file was there: whatever happens, it is not ours to delete.
    Existed,
    /// `550`: no such file (or one we may not see, which is not ours either).
    Absent,
    /// The server does not answer `SIZE` usefully (500/502, …): we cannot know.
    Unknown,
}

/// `SIZE path`, as [`Before`]; errors only when the connection itself failed.
fn probe(c: &mut Connection, path: &str) -> Result<Before, FtpError> {
    match c.size(path) {
        Ok(_) => Ok(Before::Existed),
        Err(e) if e.code() == Some(550) => Ok(Before::Absent),
        Err(e) if matches!(e, FtpError::Io(_) | FtpError::Timeout { .. }) => Err(e),
        Err(e) if e.code() == Some(421) => Err(e),
        Err(_) => Ok(Before::Unknown),
    }
}

/// After an upload cut on the browser's side (the STOR was aborted): removes what the
/// server may have kept under the final name, but only when it can only be our partial.
///
/// A failed web upload must leave the server as it was. ferroftp keeps the original on a
/// failed STOR and stores nothing new; vsftpd, pure-ftpd and others keep the bytes that
/// arrived, replacing the original if there was one (which is then lost whatever we do).
/// So: never DELE a name that existed before (or that we could not check), and otherwise
/// only when the file now there is no larger than what we sent. The one case left is
/// another client creating the same, small, file in the moments between our SIZE and our
/// DELE; deleting a partial nobody wants is worth that.
fn remove_partial(
    c: &mut Connection,
    path: &str,
    before: Before,
    sent: u64,
) -> Result<(), FtpError> {
    if before != Before::Absent {
        return Ok(());
    }
    match c.size(path) {
        Ok(n) if n <= sent => c.delete(path),
        Ok(_) => Ok(()),
        // Any answer (550: nothing kept) means there is nothing of ours to remove; only a
        // lost connection is worth asking again on a fresh one.
        Err(e) if e.code().is_some() => Ok(()),
        Err(e) => Err(e),
    }
}

/// A reader that counts the bytes read through it: what an upload actually sent.
struct Counted<R> {
    inner: R,
    count: u64,
}

impl<R: Read> Counted<R> {
    fn new(inner: R) -> Counted<R> {
        Counted { inner, count: 0 }
    }

    fn count(&self) -> u64 {
        self.count
    }
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        Ok(n)
    }
}
