//! One FTP/FTPS connection, on top of the `suppaftp` crate: connect (plain, explicit
//! `AUTH TLS`, implicit TLS) with bounded waits, log in, and the verbs both front ends need
//! (this terminal client and the web client). Transfers stream into a `Write` or out of a
//! `Read`, so callers add progress bars, temp files or HTTP bodies around them.
//!
//! Errors are [`Error`]: a refusal carries the server's reply line as sent
//! (`550 No such file or directory.`); everything else is one sentence naming what failed.
//! This module prints nothing and never sees a terminal.
//!
//! - `open`: resolving, TCP, the greeting and TLS, the data-connection builder.
//! - `error`: [`Error`], [`Reply`], and the mapping of suppaftp's errors onto them.
//!
//! This file owns the connection's types and its verbs, and the copy loops of transfers.

mod error;
mod open;

use std::fmt;
use std::io::{self, Read, Write};
use std::str::FromStr;
use std::time::Duration;

use suppaftp::types::FileType;
use suppaftp::{FtpError, Mode, RustlsFtpStream};

use crate::auth::Password;
use crate::client::watch::Watched;
use crate::protocol::ascii::{FromNetwork, ToNetwork};

use error::Ctx;
pub use error::{Error, Reply};

/// Default wait for a TCP connection and the server's greeting (`--timeout` changes it).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest wait for a reply on the control connection once connected.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest a data connection may stall (no byte either way) before the transfer fails.
pub const DATA_TIMEOUT: Duration = Duration::from_secs(60);
/// Copy buffer for transfers.
const CHUNK: usize = 64 * 1024;

/// How the control connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// Plain FTP: user names, passwords and data in clear text.
    None,
    /// `AUTH TLS` after the greeting (RFC 4217), then `PBSZ 0` and `PROT P`: `ftps://`.
    Explicit,
    /// TLS from the first byte (the old port-990 style): `--implicit`.
    Implicit,
}

/// Where to connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
}

impl Endpoint {
    /// The `known_hosts` key: `host:port` (`[::1]:21` for IPv6 literals).
    pub fn key(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// How data connections are opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataMode {
    /// The client connects: `EPSV`, falling back to `PASV` on servers that do not know it.
    Passive,
    /// The server connects back: `PORT` (IPv4) or `EPRT` (IPv6).
    Active,
}

/// `TYPE I` or `TYPE A`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferType {
    Binary,
    Ascii,
}

/// An open control connection (logged in or not).
///
/// suppaftp's `RustlsFtpStream` serves both plain and TLS sessions: without `into_secure`
/// it never starts TLS, so one type covers every [`Security`].
pub struct Connection {
    ftp: RustlsFtpStream,
    endpoint: Endpoint,
    security: Security,
    mode: DataMode,
    /// The server answered `EPSV` with 500/502: passive mode uses `PASV` from then on.
    epsv_refused: bool,
    ascii: bool,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("endpoint", &self.endpoint)
            .field("security", &self.security)
            .finish_non_exhaustive()
    }
}

impl Connection {
    fn ctx(&self) -> Ctx<'_> {
        Ctx {
            endpoint: &self.endpoint,
            verifier: None,
        }
    }

    fn err(&self, e: FtpError) -> Error {
        self.ctx().error(e)
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    pub fn security(&self) -> Security {
        self.security
    }

    pub fn mode(&self) -> DataMode {
        self.mode
    }

    pub fn transfer_type(&self) -> TransferType {
        if self.ascii {
            TransferType::Ascii
        } else {
            TransferType::Binary
        }
    }

    /// The greeting (`220 …`), if any.
    pub fn welcome(&self) -> Option<&str> {
        self.ftp.get_welcome_msg()
    }

    /// `USER`/`PASS`; then `TYPE I`, so files arrive byte for byte.
    pub fn login(&mut self, user: &str, password: &Password) -> Result<(), Error> {
        self.ftp
            .login(user, password.expose())
            .map_err(|e| self.err(e))?;
        // A server that refuses TYPE I still transfers; the default type is its business.
        let _ = self.set_type(TransferType::Binary);
        Ok(())
    }

    /// Runs a data-connection operation; in passive mode a server that does not know
    /// `EPSV` (500/502) is asked again with `PASV`, once for the rest of the session.
    fn with_data<T>(
        &mut self,
        mut op: impl FnMut(&mut RustlsFtpStream) -> suppaftp::FtpResult<T>,
    ) -> Result<T, Error> {
        match op(&mut self.ftp) {
            Err(FtpError::UnexpectedResponse(r))
                if self.mode == DataMode::Passive
                    && !self.epsv_refused
                    && matches!(r.status.code(), 500 | 502) =>
            {
                self.epsv_refused = true;
                self.ftp.set_mode(Mode::Passive);
                op(&mut self.ftp).map_err(|e| self.err(e))
            }
            other => other.map_err(|e| self.err(e)),
        }
    }

    /// `LIST` lines as the server sent them.
    pub fn list(&mut self, path: Option<&str>) -> Result<Vec<String>, Error> {
        self.with_data(|ftp| ftp.list(path))
    }

    /// `MLSD` lines (RFC 3659) as the server sent them.
    pub fn mlsd(&mut self, path: Option<&str>) -> Result<Vec<String>, Error> {
        self.with_data(|ftp| ftp.mlsd(path))
    }

    /// `MLST path`: the facts line of one entry (RFC 3659).
    pub fn mlst(&mut self, path: &str) -> Result<String, Error> {
        self.ftp.mlst(Some(path)).map_err(|e| self.err(e))
    }

    /// `NLST` names.
    pub fn nlst(&mut self, path: Option<&str>) -> Result<Vec<String>, Error> {
        self.with_data(|ftp| ftp.nlst(path))
    }

    /// `LIST` parsed into entries (lines no parser understands are left out).
    pub fn entries(&mut self, path: Option<&str>) -> Result<Vec<Entry>, Error> {
        Ok(self
            .list(path)?
            .iter()
            .filter_map(|line| Entry::parse(line))
            .collect())
    }

    pub fn cwd(&mut self, path: &str) -> Result<(), Error> {
        self.ftp.cwd(path).map_err(|e| self.err(e))
    }

    pub fn cdup(&mut self) -> Result<(), Error> {
        self.ftp.cdup().map_err(|e| self.err(e))
    }

    pub fn pwd(&mut self) -> Result<String, Error> {
        self.ftp.pwd().map_err(|e| self.err(e))
    }

    /// True after `ascii` (TYPE A).
    pub fn is_ascii(&self) -> bool {
        self.ascii
    }

    /// `SIZE` (RFC 3659), for progress bars and resume.
    pub fn size(&mut self, path: &str) -> Result<u64, Error> {
        self.ftp
            .size(path)
            .map(|n| n as u64)
            .map_err(|e| self.err(e))
    }

    /// `RETR remote` into `out`, starting at `offset` (sent as `REST offset` when non-zero).
    /// Returns the bytes written. A local write failure aborts the transfer (`ABOR`).
    pub fn get(&mut self, remote: &str, offset: u64, out: &mut dyn Write) -> Result<u64, Error> {
        let offset = usize::try_from(offset)
            .map_err(|_| Error::Invalid("resume offset too large".into()))?;
        let mut stream = self.with_data(|ftp| {
            ftp.resume_transfer(offset)?;
            ftp.retr_as_stream(remote)
        })?;
        let watch = (
            stream.get_ref().get_ref().try_clone(),
            self.ftp.get_ref().try_clone(),
        );
        let result = match watch {
            (Ok(data), Ok(control)) => {
                let mut watched = Watched::new(&mut stream, data, control);
                if self.ascii {
                    copy(&mut watched, &mut AsciiToLocal::new(out))
                } else {
                    copy(&mut watched, out)
                }
            }
            (Err(e), _) | (_, Err(e)) => Err(Failed::Read(e)),
        };
        match result {
            Ok(n) => {
                stream.finish().map_err(|e| self.err(e))?;
                Ok(n)
            }
            Err(Failed::Write(e)) => {
                let _ = self.ftp.abort(stream);
                Err(Error::LocalWrite(e))
            }
            Err(Failed::Read(e)) => Err(match stream.finish() {
                Err(FtpError::UnexpectedResponse(r)) => Error::Reply(Reply::from_response(&r)),
                _ => self.ctx().io_error(e),
            }),
        }
    }

    /// `STOR remote` from `input`. Returns the bytes read from `input`. A local read
    /// failure aborts the transfer (`ABOR`), so the server can discard the partial file.
    /// `STOR remote` from `input`; with a non-zero `offset`, `REST offset` first (the server
    /// keeps its first `offset` bytes and writes the rest after them).
    pub fn put(&mut self, remote: &str, offset: u64, input: &mut dyn Read) -> Result<u64, Error> {
        let offset = usize::try_from(offset)
            .map_err(|_| Error::Invalid("resume offset too large".into()))?;
        let mut stream = self.with_data(|ftp| {
            if offset > 0 {
                ftp.resume_transfer(offset)?;
            }
            ftp.put_with_stream(remote)
        })?;
        let result = if self.ascii {
            copy(&mut LocalToAscii::new(input), &mut stream)
        } else {
            copy(input, &mut stream)
        };
        match result {
            Ok(n) => {
                stream.finish().map_err(|e| self.err(e))?;
                Ok(n)
            }
            Err(Failed::Read(e)) => {
                let _ = self.ftp.abort(stream);
                Err(Error::LocalRead(e))
            }
            Err(Failed::Write(e)) => Err(match stream.finish() {
                Err(FtpError::UnexpectedResponse(r)) => Error::Reply(Reply::from_response(&r)),
                _ => self.ctx().io_error(e),
            }),
        }
    }

    pub fn mkdir(&mut self, path: &str) -> Result<(), Error> {
        self.ftp.mkdir(path).map_err(|e| self.err(e))
    }

    pub fn rmdir(&mut self, path: &str) -> Result<(), Error> {
        self.ftp.rmdir(path).map_err(|e| self.err(e))
    }

    pub fn delete(&mut self, path: &str) -> Result<(), Error> {
        self.ftp.rm(path).map_err(|e| self.err(e))
    }

    pub fn rename(&mut self, from: &str, to: &str) -> Result<(), Error> {
        self.ftp.rename(from, to).map_err(|e| self.err(e))
    }

    /// `SITE args`; any 1xx-3xx reply is success and is returned whole.
    pub fn site(&mut self, args: &str) -> Result<Reply, Error> {
        self.quote(&format!("SITE {args}"))
    }

    /// Sends one raw command line; any 1xx-3xx reply is success. Commands that need a
    /// data connection (LIST, RETR, …) are not for this: use the verbs above.
    pub fn quote(&mut self, line: &str) -> Result<Reply, Error> {
        if line.contains(['\r', '\n']) {
            return Err(Error::Invalid(
                "a command cannot contain a line break".into(),
            ));
        }
        // No expected codes: suppaftp then reads any reply whole (its FEAT special case
        // would end a `211-`/`214-` reply at its first line) and hands it back as
        // "unexpected"; the code decides.
        match self.ftp.custom_command(line, &[]) {
            Ok(r) => Ok(Reply::from_response(&r)),
            Err(FtpError::UnexpectedResponse(r)) => {
                let reply = Reply::from_response(&r);
                if reply.code < 400 {
                    Ok(reply)
                } else {
                    Err(Error::Reply(reply))
                }
            }
            Err(e) => Err(self.err(e)),
        }
    }

    pub fn set_mode(&mut self, mode: DataMode) {
        self.mode = mode;
        self.ftp.set_mode(match mode {
            DataMode::Active => Mode::Active,
            DataMode::Passive if self.epsv_refused => Mode::Passive,
            DataMode::Passive => Mode::ExtendedPassive,
        });
    }

    /// `TYPE I` or `TYPE A`. suppaftp spells ASCII `TYPE A N`, which some servers refuse
    /// (pyftpdlib: `504 Unsupported type "A N"`); every mainstream client sends `TYPE A`.
    pub fn set_type(&mut self, kind: TransferType) -> Result<(), Error> {
        match kind {
            TransferType::Binary => self
                .ftp
                .transfer_type(FileType::Binary)
                .map_err(|e| self.err(e))?,
            TransferType::Ascii => {
                self.quote("TYPE A")?;
            }
        }
        self.ascii = kind == TransferType::Ascii;
        Ok(())
    }

    /// `QUIT`; the connection is gone either way.
    pub fn quit(mut self) -> Result<(), Error> {
        self.ftp.quit().map_err(|e| self.err(e))
    }
}

/// One entry of a directory listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub is_dir: bool,
    pub size: u64,
}

impl Entry {
    /// A `LIST` line in Unix (`ls -l`) or DOS form; `None` for totals and unknown shapes.
    pub fn parse(line: &str) -> Option<Entry> {
        if line.starts_with("total ") {
            return None;
        }
        let file = suppaftp::list::File::from_str(line.trim_end()).ok()?;
        Some(Entry {
            name: file.name().to_owned(),
            is_dir: file.is_directory(),
            size: file.size() as u64,
        })
    }
}

/// Which side of a copy failed.
enum Failed {
    Read(io::Error),
    Write(io::Error),
}

fn copy(input: &mut dyn Read, out: &mut dyn Write) -> Result<u64, Failed> {
    let mut buf = vec![0u8; CHUNK];
    let mut total = 0u64;
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Failed::Read(e)),
        };
        out.write_all(&buf[..n]).map_err(Failed::Write)?;
        total += n as u64;
    }
    out.flush().map_err(Failed::Write)?;
    Ok(total)
}

/// `TYPE A` download: CRLF becomes the local LF (a lone CR stays), by the server's codec.
struct AsciiToLocal<'a> {
    out: &'a mut dyn Write,
    codec: FromNetwork,
    converted: Vec<u8>,
}

impl<'a> AsciiToLocal<'a> {
    fn new(out: &'a mut dyn Write) -> Self {
        AsciiToLocal {
            out,
            codec: FromNetwork::default(),
            converted: Vec::new(),
        }
    }
}

impl Write for AsciiToLocal<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.codec.convert(buf, &mut self.converted);
        self.out.write_all(&self.converted)?;
        Ok(buf.len())
    }

    /// The end of the download: a CR held back is written as it came.
    fn flush(&mut self) -> io::Result<()> {
        self.codec.finish(&mut self.converted);
        self.out.write_all(&self.converted)?;
        self.out.flush()
    }
}

/// `TYPE A` upload: a LF not preceded by CR is sent as CRLF (RFC 959 NVT-ASCII).
struct LocalToAscii<'a> {
    input: &'a mut dyn Read,
    codec: ToNetwork,
    raw: Vec<u8>,
    converted: Vec<u8>,
    /// How much of `converted` has been handed out.
    taken: usize,
}

impl<'a> LocalToAscii<'a> {
    fn new(input: &'a mut dyn Read) -> Self {
        LocalToAscii {
            input,
            codec: ToNetwork::default(),
            raw: Vec::new(),
            converted: Vec::new(),
            taken: 0,
        }
    }
}

impl Read for LocalToAscii<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.taken == self.converted.len() {
            // At most half a buffer of text, so it fits even if every byte is a LF.
            self.raw.resize(buf.len().div_ceil(2).max(1), 0);
            let n = self.input.read(&mut self.raw)?;
            self.codec.convert(&self.raw[..n], &mut self.converted);
            self.taken = 0;
        }
        let n = (self.converted.len() - self.taken).min(buf.len());
        buf[..n].copy_from_slice(&self.converted[self.taken..self.taken + n]);
        self.taken += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_conversions() {
        let mut out = Vec::new();
        {
            let mut w = AsciiToLocal::new(&mut out);
            w.write_all(b"a\r").unwrap();
            w.write_all(b"\nb\rc\r\n\r").unwrap();
            w.flush().unwrap();
        }
        assert_eq!(out, b"a\nb\rc\n\r");
        let mut input: &[u8] = b"a\nb\r\nc\n";
        let mut sent = Vec::new();
        LocalToAscii::new(&mut input)
            .read_to_end(&mut sent)
            .unwrap();
        assert_eq!(sent, b"a\r\nb\r\nc\r\n");
    }

    #[test]
    fn listing_lines_parse() {
        let e = Entry::parse("drwxr-xr-x 1 alice alice 0 Jan 01 12:00 sub dir").unwrap();
        assert_eq!((e.name.as_str(), e.is_dir), ("sub dir", true));
        let f = Entry::parse("-rw------- 1 alice alice 12 Jan 01 2024 x.bin").unwrap();
        assert_eq!((f.name.as_str(), f.is_dir, f.size), ("x.bin", false, 12));
        assert!(Entry::parse("total 3").is_none());
    }

    #[test]
    fn endpoint_keys() {
        let e = Endpoint {
            host: "::1".into(),
            port: 21,
        };
        assert_eq!(e.key(), "[::1]:21");
    }
}
