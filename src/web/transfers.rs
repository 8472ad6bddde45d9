//! Downloads streamed from FTP to the browser, and multipart uploads streamed from the browser
//! to FTP (a cut upload leaves no partial file behind).

use std::collections::HashSet;
use std::io::{Read, Write};

use tiny_http::Request;

use crate::client::connection::{Connection, Error as FtpError};
use crate::web::files::{clean_path, parent_of, valid_name};
use crate::web::ftp::Checkout;
use crate::web::html::{content_disposition, percent_encode};
use crate::web::multipart::{self, Multipart, PartReader};
use crate::web::pages::{self};
use crate::web::preview;
use crate::web::respond::{Answer, error_page, ftp_error_status, streamed_head, unavailable};
use crate::web::routes::query_value;
use crate::web::sessions::{self};
use crate::web::{Session, lock};

/// Largest upload request.
const MAX_UPLOAD_BYTES: u64 = 64 * 1024 * 1024 * 1024;

/// GET /download: streams the file; a failure before the first byte gives the request back
/// with the answer to send.
pub(super) fn download(
    request: Request,
    s: &Session,
    query: &str,
    set_cookie: Option<&str>,
) -> Result<(), Box<(Request, Answer)>> {
    let path = match (
        query_value(query, "path"),
        query_value(query, "dir"),
        query_value(query, "name"),
    ) {
        (Some(p), _, _) => clean_path(&p),
        (None, Some(d), Some(n)) => match valid_name(&n) {
            Some(n) => pages::join(&clean_path(&d), n),
            None => {
                let back = format!("/browse?path={}", percent_encode(&clean_path(&d)));
                return Err(Box::new((
                    request,
                    error_page(400, "Please give an exact file name.", &back),
                )));
            }
        },
        _ => return Err(Box::new((request, error_page(400, "Which file?", "/")))),
    };
    let back = format!("/browse?path={}", percent_encode(&parent_of(&path)));
    let mut ftp = match Checkout::take(s) {
        Ok(ftp) => ftp,
        Err(e) => return Err(Box::new((request, unavailable(e)))),
    };
    let size = match ftp.run(|c| c.size(&path)) {
        Ok(n) => n,
        Err(e) => {
            let answer = error_page(
                ftp_error_status(&e),
                format!("Cannot download {path}: {e}"),
                &back,
            );
            return Err(Box::new((request, answer)));
        }
    };
    let name = path.rsplit('/').next().unwrap_or("download");
    let inline = query_value(query, "inline").is_some_and(|v| v == "1");
    let head = download_head(name, size, inline, set_cookie);
    let mut writer = request.into_writer();
    if writer.write_all(head.as_bytes()).is_err() {
        return Ok(());
    }
    // Streams FTP data straight into the HTTP response: no copy of the file in memory, and
    // no lock held (the connection is this request's own). Never repeated: the bytes
    // already written cannot be taken back.
    if let Err(e) = ftp.transfer(|c| c.get(&path, 0, &mut writer)) {
        log::info!("web download of {path} failed: {e}");
    }
    let _ = writer.flush();
    Ok(())
}

/// The response head of a download (written by hand: the body is streamed). With `inline`,
/// an image is sent to be shown (the preview page's `<img>`); anything else stays an
/// attachment of no particular type.
fn download_head(name: &str, size: u64, inline: bool, set_cookie: Option<&str>) -> String {
    // SECURITY: only raster image types are ever shown inline; HTML, SVG or anything the
    // browser could run would execute with this site's cookies.
    let (content_type, disposition) = match (inline, preview::image_type(name)) {
        (true, Some(image)) => (
            image,
            content_disposition(name).replacen("attachment", "inline", 1),
        ),
        _ => ("application/octet-stream", content_disposition(name)),
    };
    let length = size.to_string();
    let fields = [
        ("Content-Type", content_type),
        ("Content-Length", length.as_str()),
        ("Content-Disposition", disposition.as_str()),
    ];
    streamed_head(&fields, set_cookie)
}

pub(super) fn upload(request: &mut Request, s: &Session, query: &str) -> Answer {
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
    if !first_part_is_csrf(&mut parts, s) {
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
    let done = match upload_parts(&mut ftp, &mut parts, &dir) {
        Ok(done) => done,
        Err((status, message)) => return error_page(status, message, &back),
    };
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

/// True when the form's first part is a CSRF token matching the session's.
fn first_part_is_csrf(parts: &mut Multipart<impl Read>, s: &Session) -> bool {
    match parts.next_part() {
        Ok(Some(h)) if h.name == "csrf" && h.filename.is_none() => {
            let mut token = Vec::new();
            let ok = PartReader(parts).take(256).read_to_end(&mut token).is_ok();
            let expected = lock(s).csrf.clone();
            ok && sessions::same_token(&String::from_utf8_lossy(&token), &expected)
        }
        _ => false,
    }
}

/// Uploads every `file` part into `dir`; the names uploaded, or the status and message of
/// the first failure.
fn upload_parts(
    ftp: &mut Checkout,
    parts: &mut Multipart<impl Read>,
    dir: &str,
) -> Result<Vec<String>, (u16, String)> {
    let mut done = Vec::new();
    let mut made = HashSet::new();
    while let Some(headers) = parts
        .next_part()
        .map_err(|e| (400, format!("The upload was malformed: {e}")))?
    {
        let Some(raw_name) = headers.filename.filter(|_| headers.name == "file") else {
            continue;
        };
        if raw_name.is_empty() {
            continue;
        }
        let Some(name) = relative_upload_path(&raw_name) else {
            return Err((400, format!("Refusing the file name {raw_name:?}.")));
        };
        make_parents(ftp, dir, &name, &mut made);
        if let Err(e) = upload_one(ftp, parts, &pages::join(dir, &name)) {
            let status = if matches!(e, FtpError::LocalRead(_)) {
                400
            } else {
                ftp_error_status(&e)
            };
            return Err((status, format!("Upload of {name} failed: {e}")));
        }
        done.push(name);
    }
    Ok(done)
}

/// SECURITY: the deepest tree a folder upload may create, in components.
const MAX_UPLOAD_DEPTH: usize = 32;

/// The path an uploaded file takes below the upload directory: its name, or, from a folder
/// upload, `folder/sub/name` (every component a plain name: no `..`, no empty ones). An old
/// browser's full Windows path (`C:\dir\a.txt`) keeps its last component.
pub(super) fn relative_upload_path(raw: &str) -> Option<String> {
    let raw = raw.rsplit('\\').next().unwrap_or("");
    let parts: Vec<&str> = raw.split('/').collect();
    if parts.len() > MAX_UPLOAD_DEPTH {
        return None;
    }
    let mut clean = Vec::with_capacity(parts.len());
    for part in parts {
        // `valid_name` trims; a component with spaces around it is taken as sent only if
        // trimming changes nothing.
        if valid_name(part) != Some(part) {
            return None;
        }
        clean.push(part);
    }
    Some(clean.join("/"))
}

/// Makes the directories a folder upload's `name` needs below `dir` (each once per
/// request). A refusal is not an error here: the upload that needs the directory then
/// fails with the server's own answer.
pub(super) fn make_parents(ftp: &mut Checkout, dir: &str, name: &str, made: &mut HashSet<String>) {
    let mut path = dir.to_owned();
    let components: Vec<&str> = name.split('/').collect();
    for part in &components[..components.len().saturating_sub(1)] {
        path = pages::join(&path, part);
        if made.insert(path.clone()) {
            let _ = ftp.run(|c| c.mkdir(&path));
        }
    }
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
    let result = ftp.transfer(|c| c.put(target, 0, &mut input));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_upload_paths() {
        assert_eq!(relative_upload_path("a.txt").as_deref(), Some("a.txt"));
        assert_eq!(
            relative_upload_path("trip/day 1/a.txt").as_deref(),
            Some("trip/day 1/a.txt")
        );
        assert_eq!(
            relative_upload_path("C:\\Users\\x\\a.txt").as_deref(),
            Some("a.txt")
        );
        for bad in [
            "../a", "a/../b", "a//b", "/a", "a/", "a/./b", " a/b", "a\u{7}/b",
        ] {
            assert_eq!(relative_upload_path(bad), None, "{bad:?}");
        }
        let deep = vec!["d"; MAX_UPLOAD_DEPTH + 1].join("/");
        assert_eq!(relative_upload_path(&deep), None);
    }
}
