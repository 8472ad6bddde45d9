//! Uploads of large files that survive a dropped connection: the page's script sends the
//! file in pieces to `NAME.part` (REST + STOR under the hood, so the server keeps what
//! arrived), asks how much the server has after a failure, goes on from there, and renames
//! the part into place at the end. The requests carry the CSRF token in a header (a form
//! post cannot set one; another site's script cannot send one without CORS, which we never
//! grant).

use std::collections::HashSet;

use tiny_http::Request;

use crate::client::connection::Error as FtpError;
use crate::web::files::{clean_path, parent_of};
use crate::web::ftp::Checkout;
use crate::web::html::percent_encode;
use crate::web::respond::{Answer, ftp_error_status, unavailable};
use crate::web::routes::query_value;
use crate::web::sessions;
use crate::web::transfers::{make_parents, relative_upload_path};
use crate::web::{Session, lock};

/// The header that carries the session's CSRF token.
pub const CSRF_HEADER: &str = "X-Ferroftp-Csrf";
/// SECURITY: the largest piece one request may carry (the script sends 8 MiB).
pub const MAX_PIECE_BYTES: u64 = 64 * 1024 * 1024;
/// What is appended to the final name while the upload is under way.
pub const PART_SUFFIX: &str = ".part";

/// The upload's final path from the query: `dir` plus a name or `folder/…/name`.
fn target(query: &str) -> Option<(String, String)> {
    let dir = clean_path(&query_value(query, "dir")?);
    let name = relative_upload_path(&query_value(query, "name")?)?;
    Some((dir, name))
}

fn csrf_ok(request: &Request, s: &Session) -> bool {
    let expected = lock(s).csrf.clone();
    request
        .headers()
        .iter()
        .find(|h| h.field.equiv(CSRF_HEADER))
        .is_some_and(|h| sessions::same_token(h.value.as_str(), &expected))
}

fn refused_csrf() -> Answer {
    Answer::Status(403, "This upload did not come from this page.".into())
}

/// `SIZE path` as the bytes the server has of it: 0 when there is nothing.
fn size_or_zero(ftp: &mut Checkout, path: &str) -> Result<u64, FtpError> {
    match ftp.run(|c| c.size(path)) {
        Ok(n) => Ok(n),
        Err(e) if e.code() == Some(550) => Ok(0),
        Err(e) => Err(e),
    }
}

fn ftp_failure(what: &str, e: &FtpError) -> Answer {
    Answer::Status(ftp_error_status(e), format!("{what}: {e}"))
}

/// GET /upload-offset?dir=&name=: how many bytes of the part the server has (text).
pub(super) fn offset(s: &Session, query: &str) -> Answer {
    let Some((dir, name)) = target(query) else {
        return Answer::Status(400, "Which upload?".into());
    };
    let mut ftp = match Checkout::take(s) {
        Ok(ftp) => ftp,
        Err(e) => return unavailable(e),
    };
    let part = format!("{}{PART_SUFFIX}", crate::web::pages::join(&dir, &name));
    match size_or_zero(&mut ftp, &part) {
        Ok(n) => Answer::Text(n.to_string()),
        Err(e) => ftp_failure("Cannot ask for the upload's size", &e),
    }
}

/// POST /upload-piece?dir=&name=&offset=N: the body goes to the part from byte N, which
/// must be what the server has (else 409 with the size it has). Answers the new size.
pub(super) fn piece(request: &mut Request, s: &Session, query: &str) -> Answer {
    if !csrf_ok(request, s) {
        return refused_csrf();
    }
    let (Some((dir, name)), Some(offset)) = (
        target(query),
        query_value(query, "offset").and_then(|o| o.parse::<u64>().ok()),
    ) else {
        return Answer::Status(400, "Which upload, from which byte?".into());
    };
    match request.body_length() {
        Some(n) if n as u64 <= MAX_PIECE_BYTES => {}
        Some(_) => return Answer::Status(413, "That piece is too large.".into()),
        None => return Answer::Status(411, "A piece needs its length.".into()),
    }
    let mut ftp = match Checkout::take(s) {
        Ok(ftp) => ftp,
        Err(e) => return unavailable(e),
    };
    let part = format!("{}{PART_SUFFIX}", crate::web::pages::join(&dir, &name));
    let have = match size_or_zero(&mut ftp, &part) {
        Ok(n) => n,
        Err(e) => return ftp_failure("Cannot ask for the upload's size", &e),
    };
    // A piece lands exactly after what is there: a repeated or reordered piece can neither
    // leave a hole nor be written twice.
    if have != offset {
        return Answer::Status(409, have.to_string());
    }
    if offset == 0 {
        make_parents(&mut ftp, &dir, &name, &mut HashSet::new());
    }
    let mut body = request.as_reader();
    match ftp.transfer(|c| c.put(&part, offset, &mut body)) {
        Ok(n) => Answer::Text(offset.saturating_add(n).to_string()),
        // The browser's side was cut: the server keeps what arrived, the script asks.
        Err(FtpError::LocalRead(e)) => Answer::Status(400, format!("The piece was cut: {e}")),
        Err(e) => ftp_failure(&format!("Upload of {name} failed"), &e),
    }
}

/// POST /upload-done?dir=&name=&size=N: the part, if it has all N bytes, takes its name
/// (never replacing a file that has it). Answers the listing to go to (text).
pub(super) fn done(request: &Request, s: &Session, query: &str) -> Answer {
    if !csrf_ok(request, s) {
        return refused_csrf();
    }
    let (Some((dir, name)), Some(size)) = (
        target(query),
        query_value(query, "size").and_then(|n| n.parse::<u64>().ok()),
    ) else {
        return Answer::Status(400, "Which upload, of what size?".into());
    };
    let path = crate::web::pages::join(&dir, &name);
    let part = format!("{path}{PART_SUFFIX}");
    let mut ftp = match Checkout::take(s) {
        Ok(ftp) => ftp,
        Err(e) => return unavailable(e),
    };
    match size_or_zero(&mut ftp, &part) {
        Ok(n) if n == size => {}
        Ok(n) => return Answer::Status(409, n.to_string()),
        Err(e) => return ftp_failure("Cannot ask for the upload's size", &e),
    }
    match ftp.run(|c| c.size(&path)) {
        Ok(_) => {
            return Answer::Status(409, format!("{path} exists; the upload stays as {part}."));
        }
        Err(e) if e.code() == Some(550) => {}
        Err(e) => return ftp_failure("Cannot check the name", &e),
    }
    if let Err(e) = ftp.run(|c| c.rename(&part, &path)) {
        return ftp_failure(&format!("Cannot rename {part}"), &e);
    }
    lock(s).notice = Some(format!("Uploaded {name}."));
    Answer::Text(format!(
        "/browse?path={}",
        percent_encode(&parent_of(&path))
    ))
}

/// POST /upload-cancel?dir=&name=: the user gave up; the part goes.
pub(super) fn cancel(request: &Request, s: &Session, query: &str) -> Answer {
    if !csrf_ok(request, s) {
        return refused_csrf();
    }
    let Some((dir, name)) = target(query) else {
        return Answer::Status(400, "Which upload?".into());
    };
    let part = format!("{}{PART_SUFFIX}", crate::web::pages::join(&dir, &name));
    let mut ftp = match Checkout::take(s) {
        Ok(ftp) => ftp,
        Err(e) => return unavailable(e),
    };
    match ftp.run(|c| c.delete(&part)) {
        Ok(()) => Answer::Text("cancelled".into()),
        Err(e) if e.code() == Some(550) => Answer::Text("cancelled".into()),
        Err(e) => ftp_failure(&format!("Cannot remove {part}"), &e),
    }
}
