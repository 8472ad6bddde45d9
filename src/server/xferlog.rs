//! `data/xferlog`: one wu-ftpd/vsftpd-compatible line per transfer, appended with a single
//! write so concurrent sessions never interleave within a line.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Incoming,
    Outgoing,
}

/// One finished (or failed) transfer.
#[derive(Debug)]
pub struct Entry<'a> {
    pub duration: Duration,
    pub remote: IpAddr,
    pub bytes: u64,
    pub path: &'a str,
    pub ascii: bool,
    pub direction: Direction,
    pub user: &'a str,
    pub complete: bool,
}

#[derive(Debug)]
pub struct XferLog {
    file: File,
}

impl XferLog {
    pub fn open(path: &Path) -> io::Result<XferLog> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(XferLog { file })
    }

    pub fn record(&self, e: &Entry<'_>) {
        let line = format_line(
            e,
            &chrono::Local::now()
                .format("%a %b %e %H:%M:%S %Y")
                .to_string(),
        );
        if let Err(err) = (&self.file).write_all(line.as_bytes()) {
            log::warn!("xferlog write failed: {err}");
        }
    }
}

/// `current-time transfer-time remote-host file-size filename transfer-type special-action-flag
/// direction access-mode username service-name authentication-method authenticated-user-id
/// completion-status`
fn format_line(e: &Entry<'_>, now: &str) -> String {
    // Spaces would shift the fields that log parsers count; vsftpd writes them as underscores.
    let path: String = e
        .path
        .chars()
        .map(|c| {
            if c.is_whitespace() || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect();
    format!(
        "{now} {secs} {remote} {bytes} {path} {kind} _ {dir} r {user} ftp 0 * {status}\n",
        secs = e.duration.as_secs().max(1),
        remote = e.remote,
        bytes = e.bytes,
        kind = if e.ascii { 'a' } else { 'b' },
        dir = if e.direction == Direction::Incoming {
            'i'
        } else {
            'o'
        },
        user = e.user,
        status = if e.complete { 'c' } else { 'i' },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_format() {
        let e = Entry {
            duration: Duration::from_millis(10),
            remote: "127.0.0.1".parse().unwrap(),
            bytes: 42,
            path: "/alice/my file.txt",
            ascii: false,
            direction: Direction::Incoming,
            user: "alice",
            complete: true,
        };
        assert_eq!(
            format_line(&e, "Sun Nov 22 14:57:09 2026"),
            "Sun Nov 22 14:57:09 2026 1 127.0.0.1 42 /alice/my_file.txt b _ i r alice ftp 0 * c\n"
        );
    }
}
