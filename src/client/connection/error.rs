//! What can go wrong on a connection, in words a user can act on: [`Error`] (a refusal
//! carries the server's [`Reply`] as sent), and the mapping of suppaftp's and rustls' errors
//! onto it.

use std::fmt;
use std::io;

use suppaftp::FtpError;

use super::Endpoint;
use crate::client::trust::{PinningVerifier, Verdict};

/// A reply from the server, as sent: the code and every line (CRLF removed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u32,
    pub lines: Vec<String>,
}

impl Reply {
    pub(super) fn from_response(response: &suppaftp::types::Response) -> Reply {
        let text = String::from_utf8_lossy(&response.body);
        let lines: Vec<String> = text
            .lines()
            .map(|l| l.trim_end_matches('\r').to_owned())
            .filter(|l| !l.is_empty())
            .collect();
        // suppaftp maps codes it does not name (522, 534, …) to 0: read the line instead.
        let code = lines
            .last()
            .and_then(|l| l.get(..3))
            .and_then(|c| c.parse().ok())
            .unwrap_or_else(|| response.status.code());
        Reply { code, lines }
    }

    /// The last line (`550 No such file or directory.`): what a one-line report shows.
    pub fn last_line(&self) -> &str {
        self.lines.last().map(String::as_str).unwrap_or("")
    }

    /// The text after the code on the last line.
    pub fn message(&self) -> &str {
        self.last_line().get(4..).unwrap_or("").trim()
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.last_line() {
            "" => write!(f, "{}", self.code),
            line => f.write_str(line),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server refused: its reply line, verbatim.
    #[error("{0}")]
    Reply(Reply),
    // The io errors are fields of the message, not a `source`: a chain printer would repeat
    // them (`Connection refused (os error 111): Connection refused (os error 111)`).
    #[error("cannot resolve {host}: {}", plain_io(reason))]
    Resolve { host: String, reason: io::Error },
    #[error("cannot connect to {endpoint}: {}", plain_io(reason))]
    Connect { endpoint: String, reason: io::Error },
    #[error("no answer from {endpoint} within {secs} s")]
    Timeout { endpoint: String, secs: u64 },
    #[error("TLS failure with {endpoint}: {message}")]
    Tls { endpoint: String, message: String },
    #[error("the certificate of {endpoint} is not trusted yet (SHA-256 {fingerprint})")]
    UnknownCertificate {
        endpoint: String,
        fingerprint: String,
    },
    #[error(
        "REFUSED: the certificate of {endpoint} has CHANGED (pinned SHA-256 {pinned}, \
         presented {presented}); this may be an attack; if the change is expected, delete \
         its line from {known_hosts}"
    )]
    CertificateChanged {
        endpoint: String,
        pinned: String,
        presented: String,
        known_hosts: String,
    },
    #[error("connection to the server lost: {}", plain_io(.0))]
    Io(io::Error),
    #[error("cannot write the local file: {}", plain_io(.0))]
    LocalWrite(io::Error),
    #[error("cannot read the local file: {}", plain_io(.0))]
    LocalRead(io::Error),
    #[error("the server sent a malformed reply")]
    BadReply,
    #[error("{0}")]
    Invalid(String),
}

impl Error {
    /// The server's reply code, when the server refused.
    pub fn code(&self) -> Option<u32> {
        match self {
            Error::Reply(r) => Some(r.code),
            _ => None,
        }
    }
}

/// Context for turning suppaftp's errors into ours.
pub(super) struct Ctx<'a> {
    pub(super) endpoint: &'a Endpoint,
    pub(super) verifier: Option<&'a PinningVerifier>,
}

impl Ctx<'_> {
    pub(super) fn error(&self, e: FtpError) -> Error {
        if let Some(verdict) = self.verifier.and_then(PinningVerifier::verdict) {
            return certificate_error(self.endpoint, verdict);
        }
        match e {
            FtpError::UnexpectedResponse(r) => Error::Reply(Reply::from_response(&r)),
            FtpError::SecureError(message) => Error::Tls {
                endpoint: self.endpoint.to_string(),
                message,
            },
            FtpError::ConnectionError(io) => self.io_error(io),
            FtpError::BadResponse => Error::BadReply,
            FtpError::InvalidAddress(e) => Error::Invalid(format!("invalid address: {e}")),
            FtpError::DataConnectionAlreadyOpen => {
                Error::Invalid("a transfer is still running".into())
            }
        }
    }

    pub(super) fn io_error(&self, io: io::Error) -> Error {
        if io.kind() == io::ErrorKind::UnexpectedEof {
            // rustls: "peer closed connection without sending TLS close_notify: https://…"
            return Error::Io(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the server closed the connection",
            ));
        }
        if let Some(tls) = io
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            return Error::Tls {
                endpoint: self.endpoint.to_string(),
                message: tls.to_string(),
            };
        }
        if matches!(
            io.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        ) {
            return Error::Io(io::Error::new(
                io::ErrorKind::TimedOut,
                "the server did not answer in time",
            ));
        }
        Error::Io(io)
    }
}

/// An io error in plain words: the OS's text without its `(os error N)` tag, lower-cased
/// at the start, and without links to library manuals.
pub fn plain_io(e: &io::Error) -> String {
    let text = e.to_string();
    let text = match text.find(" (os error ") {
        Some(i) => text[..i].to_owned(),
        None => text,
    };
    let text = match text.find(": https://") {
        Some(i) => text[..i].to_owned(),
        None => text,
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(first) if chars.clone().next().is_some_and(char::is_lowercase) => {
            first.to_lowercase().chain(chars).collect()
        }
        _ => text,
    }
}

fn certificate_error(endpoint: &Endpoint, verdict: Verdict) -> Error {
    match verdict {
        Verdict::Unknown { fingerprint } => Error::UnknownCertificate {
            endpoint: endpoint.to_string(),
            fingerprint,
        },
        Verdict::Changed { pinned, presented } => Error::CertificateChanged {
            endpoint: endpoint.to_string(),
            pinned,
            presented,
            known_hosts: crate::client::trust::config_dir()
                .map(|d| d.join("known_hosts").display().to_string())
                .unwrap_or_else(|| "known_hosts".into()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_read_as_words_once() {
        let refused = io::Error::from_raw_os_error(libc::ECONNREFUSED);
        let e = Error::Connect {
            endpoint: "127.0.0.1:1".into(),
            reason: refused,
        };
        assert_eq!(
            e.to_string(),
            "cannot connect to 127.0.0.1:1: connection refused"
        );
        assert!(std::error::Error::source(&e).is_none(), "nothing to repeat");
        let eof = io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "peer closed connection without sending TLS close_notify: https://docs.rs/rustls",
        );
        assert_eq!(
            plain_io(&eof),
            "peer closed connection without sending TLS close_notify"
        );
    }
}
