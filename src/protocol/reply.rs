//! FTP replies: a code and one or more lines, written in RFC 959's single- and multi-line forms.

use std::borrow::Cow;
use std::io::Write as _;

/// One reply. Text lines never contain CR or LF (they are replaced when the reply is built).
/// A single-line reply with static text allocates nothing (`rest` stays an empty `Vec`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    first: Cow<'static, str>,
    /// Lines after the first; the last of them closes a multi-line reply.
    rest: Vec<Cow<'static, str>>,
}

impl Reply {
    pub fn new(code: u16, text: impl Into<Cow<'static, str>>) -> Reply {
        Reply {
            code,
            first: sanitize(text.into()),
            rest: Vec::new(),
        }
    }

    /// A multi-line reply: the first line, body lines (each sent with a leading space, so a
    /// body line can never look like a reply code), and the last line.
    pub fn multi(
        code: u16,
        first: impl Into<Cow<'static, str>>,
        body: Vec<String>,
        last: impl Into<Cow<'static, str>>,
    ) -> Reply {
        let mut rest = Vec::with_capacity(body.len() + 1);
        rest.extend(body.into_iter().map(|l| sanitize(Cow::Owned(l))));
        rest.push(sanitize(last.into()));
        Reply {
            code,
            first: sanitize(first.into()),
            rest,
        }
    }

    /// `257 "<path>" <text>` with embedded quotes doubled (RFC 959 appendix II).
    pub fn quoted_path(path: &str, text: &str) -> Reply {
        Reply::new(
            codes::PATH_CREATED,
            format!("\"{}\" {text}", path.replace('"', "\"\"")),
        )
    }

    /// Serialises the reply into `out`, CRLF after every line.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let Some((last, body)) = self.rest.split_last() else {
            let _ = write!(out, "{} {}\r\n", self.code, self.first);
            return;
        };
        let _ = write!(out, "{}-{}\r\n", self.code, self.first);
        for line in body {
            let _ = write!(out, " {line}\r\n");
        }
        let _ = write!(out, "{} {}\r\n", self.code, last);
    }

    pub fn text(&self) -> String {
        std::iter::once(&self.first)
            .chain(&self.rest)
            .map(|l| l.as_ref())
            .collect::<Vec<&str>>()
            .join("\n")
    }
}

fn sanitize(text: Cow<'static, str>) -> Cow<'static, str> {
    // SECURITY: a file name with CR/LF echoed in a reply must not inject a forged reply line.
    if text.contains(['\r', '\n']) {
        Cow::Owned(text.replace(['\r', '\n'], " "))
    } else {
        text
    }
}

/// Reply codes named by use (RFC 959 section 4.2, RFC 2228, 2428, 3659).
pub mod codes {
    pub const RESTART_MARKER: u16 = 110;
    pub const OPENING_DATA: u16 = 150;
    pub const OK: u16 = 200;
    pub const SUPERFLUOUS: u16 = 202;
    pub const SYSTEM_STATUS: u16 = 211;
    pub const DIRECTORY_STATUS: u16 = 212;
    pub const FILE_STATUS: u16 = 213;
    pub const HELP: u16 = 214;
    pub const SYSTEM_TYPE: u16 = 215;
    pub const READY: u16 = 220;
    pub const CLOSING: u16 = 221;
    pub const NO_TRANSFER: u16 = 225;
    pub const TRANSFER_COMPLETE: u16 = 226;
    pub const PASSIVE: u16 = 227;
    pub const EXTENDED_PASSIVE: u16 = 229;
    pub const LOGGED_IN: u16 = 230;
    pub const FILE_ACTION_OK: u16 = 250;
    pub const PATH_CREATED: u16 = 257;
    pub const NEED_PASSWORD: u16 = 331;
    pub const PENDING: u16 = 350;
    pub const UNAVAILABLE: u16 = 421;
    pub const CANT_OPEN_DATA: u16 = 425;
    pub const TRANSFER_ABORTED: u16 = 426;
    pub const FILE_BUSY: u16 = 450;
    pub const LOCAL_ERROR: u16 = 451;
    pub const INSUFFICIENT_STORAGE: u16 = 452;
    pub const SYNTAX_ERROR: u16 = 500;
    pub const PARAMETER_ERROR: u16 = 501;
    pub const NOT_IMPLEMENTED: u16 = 502;
    pub const BAD_SEQUENCE: u16 = 503;
    pub const PARAMETER_NOT_IMPLEMENTED: u16 = 504;
    pub const NOT_LOGGED_IN: u16 = 530;
    pub const UNAVAILABLE_FILE: u16 = 550;
    pub const EXCEEDED_STORAGE: u16 = 552;
    pub const NAME_NOT_ALLOWED: u16 = 553;
    pub const BAD_NETWORK_PROTOCOL: u16 = 522;
    /// RFC 4217: AUTH accepted, the TLS handshake follows.
    pub const SECURITY_EXCHANGE_OK: u16 = 234;
    /// RFC 4217: the server's policy forbids what was asked (CCC, unprotected data).
    pub const POLICY_REFUSES: u16 = 534;
    /// RFC 4217: PROT level not supported (S, E).
    pub const PROTECTION_NOT_SUPPORTED: u16 = 536;
    /// RFC 4217: the policy requires protected data connections (PROT P).
    pub const PROTECTION_REQUIRED: u16 = 521;
    /// RFC 3659: REST offset beyond the end of the file.
    pub const BAD_RESTART: u16 = 554;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(r: &Reply) -> String {
        let mut v = Vec::new();
        r.encode(&mut v);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn single_line() {
        assert_eq!(bytes(&Reply::new(200, "OK")), "200 OK\r\n");
    }

    #[test]
    fn multi_line_rfc_form() {
        let r = Reply::multi(
            211,
            "Features:",
            vec!["SIZE".into(), "211 fake".into()],
            "End",
        );
        assert_eq!(
            bytes(&r),
            "211-Features:\r\n SIZE\r\n 211 fake\r\n211 End\r\n"
        );
    }

    #[test]
    fn quotes_doubled_and_crlf_removed() {
        assert_eq!(
            bytes(&Reply::quoted_path("/a\"b", "created")),
            "257 \"/a\"\"b\" created\r\n"
        );
        assert_eq!(bytes(&Reply::new(550, "x\r\n200 y")), "550 x  200 y\r\n");
    }
}
