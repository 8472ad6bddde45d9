//! Browsing a directory, deleting an entry and making a directory through the session's FTP
//! connection.

use std::time::SystemTime;

use crate::client::connection::Error as FtpError;
use crate::web::ftp::Checkout;
use crate::web::html::{form_value, percent_encode};
use crate::web::listing::{Perm, Row, SortKey, View};
use crate::web::pages;
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
    let view = View {
        sort: SortKey::parse(&query_value(query, "sort").unwrap_or_default()),
        descending: query_value(query, "order").is_some_and(|o| o == "desc"),
        search: query_value(query, "q").unwrap_or_default(),
    };
    listing_page(s, &path, &view, 200, None)
}

/// The listing of `path` as a page with `status`, showing `error` above it when given (an
/// action that failed answers on the page it was started from).
pub(super) fn listing_page(
    s: &Session,
    path: &str,
    view: &View,
    status: u16,
    error: Option<String>,
) -> Answer {
    let mut ftp = match Checkout::take(s) {
        Ok(ftp) => ftp,
        Err(e) => return unavailable(e),
    };
    let (rows, here) = match read_directory(&mut ftp, path) {
        Ok(found) => found,
        Err(e) => {
            let listing = format!("Cannot list {path}: {e}");
            let message = match error {
                Some(first) if first != listing => {
                    format!("{first} (and {})", lowercase_first(&listing))
                }
                _ => listing,
            };
            let status = if status == 200 {
                ftp_error_status(&e)
            } else {
                status
            };
            return error_page(status, message, "/browse?path=%2F").standalone();
        }
    };
    let login = ftp.login();
    let server = format!("{}:{}", login.host, login.endpoint.port);
    let user = login.user.clone();
    drop(ftp);
    let csrf = lock(s).csrf.clone();
    let body = pages::browser(&pages::Browser {
        csrf: &csrf,
        path,
        user: &user,
        server: &server,
        rows: &rows,
        here: &here,
        view,
        now: SystemTime::now(),
    });
    Answer::Page {
        status,
        title: path.to_owned(),
        body,
        error,
    }
}

fn lowercase_first(s: &str) -> String {
    let mut chars = s.chars();
    chars
        .next()
        .map_or_else(String::new, |c| c.to_lowercase().chain(chars).collect())
}

/// The entries of `path` and what may be done in it: MLSD and MLST where the server has
/// them (exact dates, the `perm` fact), LIST otherwise (everything is offered then).
pub(super) fn read_directory(ftp: &mut Checkout, path: &str) -> Result<(Vec<Row>, Perm), FtpError> {
    match ftp.run(|c| c.mlsd(Some(path))) {
        Ok(lines) => {
            let rows = lines.iter().filter_map(|l| Row::from_mlsx(l)).collect();
            let here = ftp
                .run(|c| c.mlst(path))
                .map_or_else(|_| Perm::unknown(), |line| Perm::of_mlst(&line));
            Ok((rows, here))
        }
        Err(e) if matches!(e.code(), Some(500 | 501 | 502 | 504)) => {
            let lines = ftp.run(|c| c.list(Some(path)))?;
            let rows = lines.iter().filter_map(|l| Row::from_list(l)).collect();
            Ok((rows, Perm::unknown()))
        }
        Err(e) => Err(e),
    }
}

/// An action that failed, answered on the listing it was started from (`back`, a browse
/// link) with the same status; on a page of its own when `back` is no listing.
pub(super) fn failed_in_place(s: &Session, status: u16, message: String, back: &str) -> Answer {
    let Some(query) = back.strip_prefix("/browse?") else {
        return error_page(status, message, back).standalone();
    };
    let path = clean_path(&query_value(query, "path").unwrap_or_else(|| "/".into()));
    listing_page(s, &path, &View::default(), status, Some(message))
}

/// GET /rename?path=: asks for the new name or place.
pub(super) fn confirm_rename(s: &Session, query: &str) -> Answer {
    let path = clean_path(&query_value(query, "path").unwrap_or_default());
    let entry = lock(s);
    if entry.data.login.is_none() {
        return Answer::Redirect("/".into());
    }
    page(200, "Rename", pages::confirm_rename(&entry.csrf, &path))
}

/// POST /rename: `from` takes the name `to`, a plain name (same directory) or a full path.
pub(super) fn rename(form: &[(String, String)], s: &Session) -> Answer {
    let from = clean_path(form_value(form, "from").unwrap_or_default());
    let dir = parent_of(&from);
    let back = format!("/browse?path={}", percent_encode(&dir));
    let to = form_value(form, "to").unwrap_or("").trim();
    let to = if to.starts_with('/') {
        to.trim_end_matches('/').to_owned()
    } else {
        match valid_name(to) {
            Some(name) => pages::join(&dir, name),
            None => return error_page(400, "Please give a new name or a full path.", &back),
        }
    };
    if to.is_empty() || to.chars().any(char::is_control) || to.split('/').any(|p| p == "..") {
        return error_page(400, "Please give a new name or a full path.", &back);
    }
    if to == from {
        return Answer::Redirect(back);
    }
    let mut ftp = match Checkout::take(s) {
        Ok(ftp) => ftp,
        Err(e) => return unavailable(e),
    };
    match ftp.run(|c| c.rename(&from, &to)) {
        Ok(()) => {
            lock(s).notice = Some(format!("Renamed {from} to {to}."));
            Answer::Redirect(back)
        }
        Err(e) => error_page(
            ftp_error_status(&e),
            format!("Cannot rename {from}: {e}"),
            &back,
        ),
    }
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

/// POST /selection with action=delete: the selected entries, split into files and folders
/// from the listing, shown for a confirmation.
pub(super) fn confirm_delete_selected(s: &Session, dir: &str, names: &[String]) -> Answer {
    let back = format!("/browse?path={}", percent_encode(dir));
    if names.is_empty() {
        return error_page(400, "Nothing was selected.", &back);
    }
    let mut ftp = match Checkout::take(s) {
        Ok(ftp) => ftp,
        Err(e) => return unavailable(e),
    };
    let rows = match read_directory(&mut ftp, dir) {
        Ok((rows, _)) => rows,
        Err(e) => {
            return error_page(
                ftp_error_status(&e),
                format!("Cannot list {dir}: {e}"),
                &back,
            );
        }
    };
    drop(ftp);
    let mut chosen: Vec<(String, bool)> = Vec::new();
    for name in names {
        match rows.iter().find(|r| &r.name == name) {
            Some(r) => chosen.push((r.name.clone(), r.is_dir)),
            None => {
                let path = pages::join(dir, name);
                return error_page(404, format!("Cannot delete {path}: no such entry."), &back);
            }
        }
    }
    let csrf = lock(s).csrf.clone();
    page(
        200,
        "Delete?",
        pages::confirm_delete_selected(&csrf, dir, &chosen),
    )
}

/// POST /delete-selected: DELE each `file`, RMD each `folder` of `dir`; stops at the first
/// refusal (what was deleted before it is said in the message).
pub(super) fn delete_selected(form: &[(String, String)], s: &Session) -> Answer {
    let dir = clean_path(form_value(form, "dir").unwrap_or("/"));
    let back = format!("/browse?path={}", percent_encode(&dir));
    let entries: Vec<(&str, bool)> = form
        .iter()
        .filter_map(|(k, v)| match k.as_str() {
            "file" => Some((v.as_str(), false)),
            "folder" => Some((v.as_str(), true)),
            _ => None,
        })
        .collect();
    if entries.is_empty() || entries.iter().any(|(n, _)| valid_name(n).is_none()) {
        return error_page(400, "Please choose entries of this directory.", &back);
    }
    let mut ftp = match Checkout::take(s) {
        Ok(ftp) => ftp,
        Err(e) => return unavailable(e),
    };
    let mut done = 0usize;
    for (name, is_dir) in &entries {
        let path = pages::join(&dir, name);
        let result = ftp.run(|c| {
            if *is_dir {
                c.rmdir(&path)
            } else {
                c.delete(&path)
            }
        });
        if let Err(e) = result {
            let before = if done > 0 {
                format!(" ({done} deleted before it)")
            } else {
                String::new()
            };
            return error_page(
                ftp_error_status(&e),
                format!("Cannot delete {path}: {e}{before}"),
                &back,
            );
        }
        done += 1;
    }
    lock(s).notice = Some(format!("Deleted {done} entries."));
    Answer::Redirect(back)
}
