//! Previews in the page: images shown from an inline download, text shown as its first
//! `TEXT_PREVIEW_BYTES`, escaped. Only these kinds: nothing the browser could run is ever
//! sent to be displayed.

use std::io::{self, Write};

use crate::client::connection::Error as FtpError;
use crate::web::files::{clean_path, parent_of};
use crate::web::ftp::Checkout;
use crate::web::html::percent_encode;
use crate::web::pages;
use crate::web::respond::{Answer, error_page, ftp_error_status, page, unavailable};
use crate::web::routes::query_value;
use crate::web::{Session, lock};

/// How much of a text file the preview shows.
pub const TEXT_PREVIEW_BYTES: usize = 64 * 1024;

/// The `Content-Type` of a raster image name the browser may show inline.
pub fn image_type(name: &str) -> Option<&'static str> {
    let ext = name.rsplit_once('.')?.1.to_ascii_lowercase();
    Some(match ext.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "bmp" => "image/bmp",
        _ => return None,
    })
}

/// True for names shown as text.
pub fn is_text(name: &str) -> bool {
    let Some((_, ext)) = name.rsplit_once('.') else {
        return false;
    };
    matches!(
        ext.to_ascii_lowercase().as_str(),
        "txt"
            | "md"
            | "log"
            | "csv"
            | "json"
            | "toml"
            | "yaml"
            | "yml"
            | "ini"
            | "conf"
            | "rs"
            | "c"
            | "h"
            | "py"
            | "js"
            | "ts"
            | "go"
            | "java"
            | "sh"
            | "css"
            | "xml"
            | "html"
    )
}

/// True when the browser page offers a preview of `name`.
pub fn previewable(name: &str) -> bool {
    image_type(name).is_some() || is_text(name)
}

/// GET /view?path=: the preview page.
pub(super) fn view(s: &Session, query: &str) -> Answer {
    let path = clean_path(&query_value(query, "path").unwrap_or_default());
    let back = format!("/browse?path={}", percent_encode(&parent_of(&path)));
    let name = path.rsplit('/').next().unwrap_or_default().to_owned();
    if image_type(&name).is_some() {
        if lock(s).data.login.is_none() {
            return Answer::Redirect("/".into());
        }
        return page(200, &name, pages::preview_image(&path));
    }
    if !is_text(&name) {
        return error_page(
            415,
            format!("No preview for {path}: download it instead."),
            &back,
        );
    }
    let mut ftp = match Checkout::take(s) {
        Ok(ftp) => ftp,
        Err(e) => return unavailable(e),
    };
    let mut head = Head::new(TEXT_PREVIEW_BYTES);
    match ftp.transfer(|c| c.get(&path, 0, &mut head)) {
        Ok(_) => {}
        // The preview's own limit stopped the transfer: the first bytes are what it wants.
        Err(FtpError::LocalWrite(_)) if head.full() => {}
        Err(e) => {
            return error_page(
                ftp_error_status(&e),
                format!("Cannot preview {path}: {e}"),
                &back,
            );
        }
    }
    let text = String::from_utf8_lossy(&head.bytes);
    page(200, &name, pages::preview_text(&path, &text, head.full()))
}

/// Keeps the first `limit` bytes written and then refuses more (which ends the RETR).
struct Head {
    bytes: Vec<u8>,
    limit: usize,
    overflowed: bool,
}

impl Head {
    fn new(limit: usize) -> Head {
        Head {
            bytes: Vec::new(),
            limit,
            overflowed: false,
        }
    }

    /// More was sent than kept.
    fn full(&self) -> bool {
        self.overflowed
    }
}

impl Write for Head {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let room = self.limit - self.bytes.len();
        if buf.len() > room {
            self.bytes.extend_from_slice(&buf[..room]);
            self.overflowed = true;
            return Err(io::Error::other("preview limit reached"));
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        assert_eq!(image_type("a.PNG"), Some("image/png"));
        assert_eq!(image_type("x.svg"), None, "SVG can carry script");
        assert_eq!(image_type("noext"), None);
        assert!(is_text("notes.TXT") && is_text("page.html") && !is_text("a.bin"));
    }

    #[test]
    fn head_keeps_the_first_bytes() {
        let mut h = Head::new(5);
        h.write_all(b"abc").unwrap();
        assert!(!h.full());
        assert!(h.write_all(b"defg").is_err());
        assert!(h.full());
        assert_eq!(h.bytes, b"abcde");
    }
}
