//! What the web client's handlers answer, and how an answer becomes an HTTP response: status,
//! security headers, the session cookie and the one-shot notice.

use tiny_http::{Header, Request, Response, StatusCode};

use crate::client::connection::Error as FtpError;
use crate::web::ftp::{MAX_PER_SESSION, Unavailable};
use crate::web::html::{self, escape};

pub(super) const SECURITY_HEADERS: &[(&str, &str)] = &[
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

/// What a handler answers (downloads write their own response instead).
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
    /// A plain-text answer with its status, for the page's script (resumable uploads).
    Status(u16, String),
    NoContent,
    Static {
        content_type: &'static str,
        body: &'static str,
    },
    /// Something the user asked for failed: shown on the listing `back` links to when it is
    /// one (see `files::failed_in_place`), else on a page of its own with a Back link.
    Failed {
        status: u16,
        message: String,
        back: String,
    },
}

impl Answer {
    /// A failure as a page of its own (other answers stay as they are).
    pub(super) fn standalone(self) -> Answer {
        let Answer::Failed {
            status,
            message,
            back,
        } = self
        else {
            return self;
        };
        Answer::Page {
            status,
            title: "Error".into(),
            body: back_link(&back),
            error: Some(message),
        }
    }
}

pub(super) fn page(status: u16, title: &str, body: String) -> Answer {
    Answer::Page {
        status,
        title: title.to_owned(),
        body,
        error: None,
    }
}

fn back_link(back: &str) -> String {
    format!(
        "<p><a class=\"button secondary\" href=\"{}\">Back</a></p>",
        escape(back)
    )
}

pub(super) fn error_page(status: u16, message: impl Into<String>, back: &str) -> Answer {
    Answer::Failed {
        status,
        message: message.into(),
        back: back.to_owned(),
    }
}

/// The head of a `200` whose body is streamed by hand (downloads, archives): `fields`, then
/// the security headers and the session cookie, if any.
pub(super) fn streamed_head(fields: &[(&str, &str)], set_cookie: Option<&str>) -> String {
    let mut head = String::from("HTTP/1.1 200 OK\r\nConnection: close\r\n");
    let cookie = set_cookie.map(|c| ("Set-Cookie", c));
    for (k, v) in fields.iter().chain(SECURITY_HEADERS).chain(cookie.as_ref()) {
        head.push_str(k);
        head.push_str(": ");
        head.push_str(v);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    head
}

fn header(name: &str, value: &str) -> Option<Header> {
    Header::from_bytes(name.as_bytes(), value.as_bytes()).ok()
}

pub(super) fn respond(
    request: Request,
    answer: Answer,
    cookies: &[String],
    notice: Option<String>,
) {
    let mut headers: Vec<Header> = SECURITY_HEADERS
        .iter()
        .filter_map(|(k, v)| header(k, v))
        .collect();
    for c in cookies {
        headers.extend(header("Set-Cookie", c));
    }
    let response = match answer {
        Answer::Failed {
            status,
            message,
            back,
        } => {
            headers.extend(header("Content-Type", "text/html; charset=utf-8"));
            let html = html::page(
                "Error",
                notice.as_deref(),
                Some(&message),
                &back_link(&back),
            );
            Response::from_string(html).with_status_code(StatusCode(status))
        }
        Answer::NoContent => Response::from_string(String::new()).with_status_code(StatusCode(204)),
        Answer::Text(text) => {
            headers.extend(header("Content-Type", "text/plain; charset=utf-8"));
            Response::from_string(text).with_status_code(StatusCode(200))
        }
        Answer::Status(status, text) => {
            headers.extend(header("Content-Type", "text/plain; charset=utf-8"));
            Response::from_string(text).with_status_code(StatusCode(status))
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

/// The answer when a request gets no FTP connection.
pub(super) fn unavailable(e: Unavailable) -> Answer {
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

pub(super) fn ftp_error_status(e: &FtpError) -> u16 {
    match e.code() {
        Some(550) => 404,
        Some(553) | Some(532) | Some(530) => 403,
        // Busy (another upload holds the file): worth trying again shortly.
        Some(450) => 503,
        _ => 502,
    }
}
