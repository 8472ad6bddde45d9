//! Browsing a directory, deleting an entry and making a directory through the session's FTP
//! connection.

use crate::web::ftp::Checkout;
use crate::web::html::{form_value, percent_encode};
use crate::web::pages::{self, Row};
use crate::web::respond::{Answer, error_page, ftp_error_status, page, unavailable};
use crate::web::routes::query_value;
use crate::web::{Session, lock};

pub(super) fn clean_path(p: &str) -> String {
    let p = p.trim();
    if p.starts_with('/') {
        p.to_owned()
    } else {
        format!("/{p}")
    }
}

pub(super) fn browse(s: &Session, query: &str) -> Answer {
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

pub(super) fn confirm_delete(s: &Session, query: &str) -> Answer {
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

pub(super) fn parent_of(path: &str) -> String {
    match path.trim_end_matches('/').rfind('/') {
        Some(0) | None => "/".into(),
        Some(i) => path[..i].to_owned(),
    }
}

pub(super) fn delete(form: &[(String, String)], s: &Session) -> Answer {
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
pub(super) fn valid_name(name: &str) -> Option<&str> {
    let name = name.trim();
    let ok = !name.is_empty()
        && name != "."
        && name != ".."
        && !name.contains(['/', '\\'])
        && !name.chars().any(char::is_control);
    ok.then_some(name)
}

pub(super) fn mkdir(form: &[(String, String)], s: &Session) -> Answer {
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
