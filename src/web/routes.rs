//! The whole URL space of the web client: the match from method and path to a handler. The
//! handlers live by concern in `login`, `files` and `transfers`; `respond` turns their
//! answers into responses, `pages` draws the HTML, `html` escapes.

use std::io::Read;

use tiny_http::{Method, Request};

use crate::web::files::{
    browse, clean_path, confirm_delete, confirm_delete_selected, confirm_rename, delete,
    delete_selected, failed_in_place, mkdir, rename,
};
use crate::web::html::{form_value, parse_form, percent_decode, percent_encode};
use crate::web::login::{login, trust};
use crate::web::pages::{self, LoginForm};
use crate::web::respond::{Answer, error_page, page, respond};
use crate::web::sessions::{self, COOKIE};
use crate::web::transfers::{download, upload};
use crate::web::{Session, State, WebSession, lock};
use crate::web::{archive, resumable};

/// Largest urlencoded form body (login, mkdir, delete...).
const MAX_FORM_BYTES: usize = 64 * 1024;

/// Serves one request.
pub fn handle(state: &State, mut request: Request) {
    let ip = request
        .remote_addr()
        .map(|a| crate::protocol::address::canonical(a.ip()));
    let (path, query) = match request.url().split_once('?') {
        Some((p, q)) => (p.to_owned(), q.to_owned()),
        None => (request.url().to_owned(), String::new()),
    };
    // HEAD is answered like GET (tiny_http leaves the body out); not for downloads and
    // archives, which write their own bodies (and would fetch files for nothing).
    let method = match request.method() {
        Method::Head if !matches!(path.as_str(), "/download" | "/zip") => Method::Get,
        other => other.clone(),
    };
    if method == Method::Get
        && let Some(asset) = static_asset(&path)
    {
        return respond(request, asset, &[], None);
    }
    // Pages belong to a session. SECURITY: only the login page starts one, so a flood of
    // cookie-less requests elsewhere cannot fill the session table.
    let starts_session = method == Method::Get && path == "/";
    let (session, mut set_cookie) = match open_session(state, &request, starts_session) {
        Ok(found) => found,
        Err(full) => return respond(request, full, &[], None),
    };
    let answer = match (&method, path.as_str(), &session) {
        (Method::Get, "/favicon.ico", _) => Answer::NoContent,
        (Method::Get, _, None) => Answer::Redirect("/".into()),
        (_, _, None) => error_page(
            403,
            "This form has expired or did not come from this page; please try again.",
            "/",
        ),
        (Method::Get, "/", Some((_, s))) => index(s, remembered(&request).as_ref()),
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
        (Method::Get, "/rename", Some((_, s))) => confirm_rename(s, &query),
        (Method::Get, "/view", Some((_, s))) => crate::web::preview::view(s, &query),
        (Method::Post, "/rename", Some((_, s))) => with_form(&mut request, s, rename),
        (Method::Post, "/logout", Some((id, s))) => with_form(&mut request, s, |_, _| {
            state.sessions.remove(id);
            set_cookie = Some(sessions::set_cookie("", true));
            Answer::Redirect("/".into())
        }),
        (Method::Post, "/upload", Some((_, s))) => upload_answer(&mut request, s, &query),
        (Method::Get, "/upload-offset", Some((_, s))) => resumable::offset(s, &query),
        (Method::Post, "/upload-piece", Some((_, s))) => resumable::piece(&mut request, s, &query),
        (Method::Post, "/upload-done", Some((_, s))) => resumable::done(&request, s, &query),
        (Method::Post, "/upload-cancel", Some((_, s))) => resumable::cancel(&request, s, &query),
        (Method::Get, "/zip", Some((_, s))) => {
            let path = clean_path(&query_value(&query, "path").unwrap_or_default());
            match archive::download(request, s, &archive::folder(&path), set_cookie.as_deref()) {
                Ok(()) => return,
                Err(failed) => {
                    let (back, answer) = *failed;
                    request = back;
                    answer
                }
            }
        }
        (Method::Post, "/selection", Some((_, s))) => match read_form(&mut request, s) {
            Err(refused) => refused,
            Ok(form) => {
                let selection = archive::Selection {
                    dir: clean_path(form_value(&form, "dir").unwrap_or("/")),
                    names: form
                        .iter()
                        .filter(|(k, _)| k == "name")
                        .map(|(_, v)| v.clone())
                        .collect(),
                };
                if form_value(&form, "action") == Some("delete") {
                    confirm_delete_selected(s, &selection.dir, &selection.names)
                } else if selection.names.is_empty() {
                    let back = format!("/browse?path={}", percent_encode(&selection.dir));
                    error_page(400, "Nothing was selected.", &back)
                } else {
                    match archive::download(request, s, &selection, set_cookie.as_deref()) {
                        Ok(()) => return,
                        Err(failed) => {
                            let (back, answer) = *failed;
                            request = back;
                            answer
                        }
                    }
                }
            }
        },
        (Method::Post, "/delete-selected", Some((_, s))) => {
            with_form(&mut request, s, delete_selected)
        }
        (Method::Get, "/download", Some((_, s))) => {
            match download(request, s, &query, set_cookie.as_deref()) {
                Ok(()) => return,
                Err(failed) => {
                    let (back, answer) = *failed;
                    request = back;
                    answer
                }
            }
        }
        _ => error_page(404, "Not found.", "/"),
    };
    let mut cookies: Vec<String> = set_cookie.into_iter().collect();
    if let (Method::Post, "/login" | "/trust") = (&method, path.as_str()) {
        if let Some(cookie) = rotate_after_login(state, session.as_ref(), &answer) {
            cookies = vec![cookie];
        }
        cookies.extend(remember_login(session.as_ref(), &answer));
    }
    let answer = match (answer, &session) {
        (
            Answer::Failed {
                status,
                message,
                back,
            },
            Some((_, s)),
        ) if lock(s).data.login.is_some() => failed_in_place(s, status, message, &back),
        (answer, _) => answer,
    };
    let notice = one_time_notice(session.as_ref(), &answer);
    respond(request, answer, &cookies, notice);
}

/// The stylesheet and script, compiled into the binary.
fn static_asset(path: &str) -> Option<Answer> {
    let (content_type, body) = match path {
        "/static/style.css" => ("text/css; charset=utf-8", include_str!("assets/style.css")),
        "/static/app.js" => (
            "text/javascript; charset=utf-8",
            include_str!("assets/app.js"),
        ),
        _ => return None,
    };
    Some(Answer::Static { content_type, body })
}

/// POST /upload. The page's script uploads in the background: it wants the destination as
/// text (a followed redirect would use up the one-time notice) and errors as pages.
fn upload_answer(request: &mut Request, s: &Session, query: &str) -> Answer {
    let scripted = request
        .headers()
        .iter()
        .any(|h| h.field.equiv("X-Ferroftp-Upload"));
    match upload(request, s, query) {
        Answer::Redirect(location) if scripted => Answer::Text(location),
        other => other,
    }
}

/// The session's notice, taken only when the answer is a page that shows it.
fn one_time_notice(session: Option<&Identified>, answer: &Answer) -> Option<String> {
    let (_, s) = session?;
    if matches!(answer, Answer::Page { .. }) {
        lock(s).notice.take()
    } else {
        None
    }
}

/// A browser session and its id (the cookie's value).
type Identified = (String, Session);

/// The browser's session (by its cookie), or a new one when this request may start one,
/// with the `Set-Cookie` value for a new one; `503` when the session table is full.
fn open_session(
    state: &State,
    request: &Request,
    starts_session: bool,
) -> Result<(Option<Identified>, Option<String>), Answer> {
    let cookie = request
        .headers()
        .iter()
        .find(|h| h.field.equiv("Cookie"))
        .and_then(|h| sessions::cookie_value(h.value.as_str(), COOKIE));
    if let Some((id, s)) = cookie.and_then(|id| state.sessions.get(id).map(|s| (id, s))) {
        return Ok((Some((id.to_owned(), s)), None));
    }
    if !starts_session {
        return Ok((None, None));
    }
    match state
        .sessions
        .create(WebSession::default(), |w: &WebSession| w.login.is_none())
    {
        Some((id, s)) => {
            let cookie = sessions::set_cookie(&id, false);
            Ok((Some((id, s)), Some(cookie)))
        }
        None => Err(error_page(503, "Too many sessions; try again later.", "/")),
    }
}

/// SECURITY: a new session id at login, so an id planted before login (session fixation)
/// is worthless afterwards; the CSRF token changes with it. The new `Set-Cookie`, if any.
fn rotate_after_login(
    state: &State,
    session: Option<&Identified>,
    answer: &Answer,
) -> Option<String> {
    let (id, s) = session?;
    if !matches!(answer, Answer::Redirect(_)) || lock(s).data.login.is_none() {
        return None;
    }
    let new_id = state.sessions.rotate(id)?;
    Some(sessions::set_cookie(&new_id, false))
}

/// Reads an urlencoded POST body and checks its CSRF token before calling `f`.
fn with_form(
    request: &mut Request,
    s: &Session,
    f: impl FnOnce(&[(String, String)], &Session) -> Answer,
) -> Answer {
    match read_form(request, s) {
        Ok(form) => f(&form, s),
        Err(refused) => refused,
    }
}

/// An urlencoded POST body whose CSRF token is this session's.
fn read_form(request: &mut Request, s: &Session) -> Result<Vec<(String, String)>, Answer> {
    if request.body_length().is_some_and(|n| n > MAX_FORM_BYTES) {
        return Err(error_page(413, "Form too large.", "/"));
    }
    let mut body = Vec::new();
    let limit = MAX_FORM_BYTES as u64 + 1;
    if request
        .as_reader()
        .take(limit)
        .read_to_end(&mut body)
        .is_err()
    {
        return Err(error_page(400, "Could not read the form.", "/"));
    }
    if body.len() > MAX_FORM_BYTES {
        return Err(error_page(413, "Form too large.", "/"));
    }
    let form = parse_form(&String::from_utf8_lossy(&body));
    let expected = lock(s).csrf.clone();
    // SECURITY: a form posted from another site carries no valid token (CSRF).
    if !form_value(&form, "csrf").is_some_and(|t| sessions::same_token(t, &expected)) {
        return Err(error_page(
            403,
            "This form has expired or did not come from this page; please try again.",
            "/",
        ));
    }
    Ok(form)
}

pub(super) fn query_value(query: &str, key: &str) -> Option<String> {
    parse_form(query)
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
}

fn index(s: &Session, remembered: Option<&Remembered>) -> Answer {
    let entry = lock(s);
    if let Some(login) = &entry.data.login {
        return Answer::Redirect(format!("/browse?path={}", percent_encode(&login.home)));
    }
    let form = match remembered {
        Some(r) => LoginForm {
            host: &r.host,
            port: r.port,
            user: &r.user,
            tls: r.tls,
        },
        None => LoginForm {
            host: "127.0.0.1",
            port: 5550,
            user: "",
            tls: false,
        },
    };
    page(200, "Connect", pages::login(&entry.csrf, &form))
}

/// The login form's last host, port, user and TLS choice, kept by the browser (never the
/// password).
struct Remembered {
    host: String,
    port: u16,
    user: String,
    tls: bool,
}

const REMEMBER_COOKIE: &str = "ferroftp_login";
/// How long the browser keeps the last login's host, port and user.
const REMEMBER_FOR_SECS: u64 = 90 * 24 * 3600;

fn remembered(request: &Request) -> Option<Remembered> {
    let header = request.headers().iter().find(|h| h.field.equiv("Cookie"))?;
    let value = sessions::cookie_value(header.value.as_str(), REMEMBER_COOKIE)?;
    let form = parse_form(&percent_decode(value));
    Some(Remembered {
        host: form_value(&form, "h")?.to_owned(),
        port: form_value(&form, "p")?.parse().ok()?,
        user: form_value(&form, "u").unwrap_or_default().to_owned(),
        tls: form_value(&form, "t") == Some("1"),
    })
}

/// After a login: a cookie with what the form is filled with next time.
fn remember_login(session: Option<&Identified>, answer: &Answer) -> Option<String> {
    let (_, s) = session?;
    if !matches!(answer, Answer::Redirect(_)) {
        return None;
    }
    let entry = lock(s);
    let login = entry.data.login.as_ref()?;
    let tls = !matches!(login.security, crate::client::connection::Security::None);
    // Percent-encoded pairs: only unreserved characters and `%XX`, safe in a cookie.
    let value = percent_encode(&format!(
        "h={}&p={}&u={}&t={}",
        percent_encode(&login.host),
        login.endpoint.port,
        percent_encode(&login.user),
        u8::from(tls)
    ));
    Some(format!(
        "{REMEMBER_COOKIE}={value}; Path=/; Max-Age={REMEMBER_FOR_SECS}; HttpOnly; SameSite=Strict"
    ))
}
