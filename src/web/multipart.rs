//! A streaming `multipart/form-data` reader (RFC 7578) for the upload form: each part's body
//! is read straight from the request without holding the file in memory. Bounded everywhere:
//! header size, part count, and a small fixed buffer.

use std::io::{self, Read};

/// Bytes of one part's header block; more is a malformed request.
const MAX_HEADER_BYTES: usize = 8 * 1024;
/// Parts in one request.
const MAX_PARTS: usize = 256;
/// Working buffer; the delimiter is at most 74 bytes, so this keeps reads large.
const BUFFER: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("malformed multipart body: {0}")]
    Malformed(&'static str),
    #[error("multipart body ended early")]
    Truncated,
    #[error("too many parts")]
    TooManyParts,
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// What a part's headers say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartHeaders {
    pub name: String,
    pub filename: Option<String>,
}

#[derive(Debug, PartialEq, Eq)]
enum State {
    /// Before the first delimiter.
    Preamble,
    /// Inside a part's body.
    Body,
    /// Just after a delimiter line; headers (or the final `--`) follow.
    Boundary,
    Done,
}

pub struct Multipart<R: Read> {
    reader: R,
    /// `\r\n--boundary`
    delimiter: Vec<u8>,
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    eof: bool,
    state: State,
    parts: usize,
}

/// The boundary parameter of a `multipart/form-data` Content-Type.
pub fn boundary(content_type: &str) -> Option<String> {
    let (mime, params) = content_type.split_once(';')?;
    if !mime.trim().eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    for param in params.split(';') {
        let (key, value) = param.split_once('=')?;
        if key.trim().eq_ignore_ascii_case("boundary") {
            let value = value.trim().trim_matches('"');
            // RFC 2046: 1 to 70 characters.
            if (1..=70).contains(&value.len()) && value.is_ascii() {
                return Some(value.to_owned());
            }
            return None;
        }
    }
    None
}

impl<R: Read> Multipart<R> {
    pub fn new(reader: R, boundary: &str) -> Multipart<R> {
        let mut delimiter = b"\r\n--".to_vec();
        delimiter.extend_from_slice(boundary.as_bytes());
        let mut buf = vec![0u8; BUFFER].into_boxed_slice();
        // A virtual CRLF in front lets the first delimiter match like every other one.
        buf[..2].copy_from_slice(b"\r\n");
        Multipart {
            reader,
            delimiter,
            buf,
            start: 0,
            end: 2,
            eof: false,
            state: State::Preamble,
            parts: 0,
        }
    }

    /// Moves to the next part (skipping what is left of the current one) and returns its
    /// headers, or `None` after the closing delimiter.
    pub fn next_part(&mut self) -> Result<Option<PartHeaders>, Error> {
        loop {
            match self.state {
                State::Preamble | State::Body => {
                    let mut sink = [0u8; 4096];
                    while self.read_body(&mut sink)? > 0 {}
                }
                State::Boundary => break,
                State::Done => return Ok(None),
            }
        }
        // After the delimiter: `--` closes the body, else transport padding and CRLF.
        self.fill_at_least(2)?;
        if &self.buf[self.start..self.start + 2] == b"--" {
            self.state = State::Done;
            return Ok(None);
        }
        self.parts += 1;
        if self.parts > MAX_PARTS {
            return Err(Error::TooManyParts);
        }
        let header_block = self.read_header_block()?;
        self.state = State::Body;
        parse_headers(&header_block).map(Some)
    }

    /// Reads from the current part's body; 0 at its end.
    pub fn read_body(&mut self, out: &mut [u8]) -> Result<usize, Error> {
        if !matches!(self.state, State::Body | State::Preamble) || out.is_empty() {
            return Ok(0);
        }
        loop {
            let window = &self.buf[self.start..self.end];
            if let Some(pos) = find(window, &self.delimiter) {
                if pos == 0 {
                    self.start += self.delimiter.len();
                    self.state = State::Boundary;
                    return Ok(0);
                }
                let n = pos.min(out.len());
                out[..n].copy_from_slice(&window[..n]);
                self.start += n;
                return Ok(n);
            }
            // Everything but a possible delimiter prefix at the end is body.
            let safe = window.len().saturating_sub(self.delimiter.len() - 1);
            if safe > 0 {
                let n = safe.min(out.len());
                out[..n].copy_from_slice(&window[..n]);
                self.start += n;
                return Ok(n);
            }
            if self.eof {
                return Err(Error::Truncated);
            }
            self.fill()?;
        }
    }

    fn read_header_block(&mut self) -> Result<Vec<u8>, Error> {
        loop {
            let window = &self.buf[self.start..self.end];
            if let Some(pos) = find(window, b"\r\n\r\n").filter(|&p| p <= MAX_HEADER_BYTES) {
                let block = window[..pos].to_vec();
                self.start += pos + 4;
                return Ok(block);
            }
            if window.len() > MAX_HEADER_BYTES {
                return Err(Error::Malformed("part headers too long"));
            }
            if self.eof {
                return Err(Error::Truncated);
            }
            self.fill()?;
        }
    }

    fn fill_at_least(&mut self, n: usize) -> Result<(), Error> {
        while self.end - self.start < n {
            if self.eof {
                return Err(Error::Truncated);
            }
            self.fill()?;
        }
        Ok(())
    }

    /// Compacts the buffer and reads more; sets `eof` at the end of the input.
    fn fill(&mut self) -> Result<(), Error> {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            return Err(Error::Malformed("line too long"));
        }
        loop {
            match self.reader.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(());
                }
                Ok(n) => {
                    self.end += n;
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// The current part's body as a `Read` (for streaming it into an FTP upload).
pub struct PartReader<'a, R: Read>(pub &'a mut Multipart<R>);

impl<R: Read> Read for PartReader<'_, R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        self.0.read_body(out).map_err(|e| match e {
            Error::Io(e) => e,
            other => io::Error::new(io::ErrorKind::InvalidData, other.to_string()),
        })
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return None;
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn parse_headers(block: &[u8]) -> Result<PartHeaders, Error> {
    // The block starts with the rest of the delimiter line (padding + CRLF).
    let text = std::str::from_utf8(block).map_err(|_| Error::Malformed("headers not UTF-8"))?;
    let mut lines = text.split("\r\n");
    let first = lines.next().unwrap_or_default();
    if !first.trim().is_empty() {
        return Err(Error::Malformed("garbage after boundary"));
    }
    for line in lines {
        let Some((key, value)) = line.split_once(':') else {
            return Err(Error::Malformed("header without ':'"));
        };
        if key.trim().eq_ignore_ascii_case("content-disposition") {
            return disposition(value);
        }
    }
    Err(Error::Malformed("part without Content-Disposition"))
}

/// `form-data; name="x"; filename="y"`
fn disposition(value: &str) -> Result<PartHeaders, Error> {
    let mut rest = value.trim();
    let kind_end = rest.find(';').unwrap_or(rest.len());
    if !rest[..kind_end].trim().eq_ignore_ascii_case("form-data") {
        return Err(Error::Malformed("not form-data"));
    }
    rest = &rest[kind_end..];
    let (mut name, mut filename) = (None, None);
    while let Some(stripped) = rest.strip_prefix(';') {
        let stripped = stripped.trim_start();
        let eq = stripped
            .find('=')
            .ok_or(Error::Malformed("parameter without '='"))?;
        let key = stripped[..eq].trim().to_ascii_lowercase();
        let (value, tail) = param_value(&stripped[eq + 1..])?;
        match key.as_str() {
            "name" => name = Some(value),
            "filename" => filename = Some(value),
            _ => {}
        }
        rest = tail.trim_start();
    }
    Ok(PartHeaders {
        name: name.ok_or(Error::Malformed("part without a name"))?,
        filename,
    })
}

/// A quoted or bare parameter value, and what follows it. Browsers do not backslash-escape
/// (a `\` in a Windows name is literal); they send `"` as `%22` (HTML's form encoding),
/// which is decoded here. CR and LF arrive as `%0D`/`%0A` and stay encoded: the FTP side
/// refuses control characters anyway.
fn param_value(s: &str) -> Result<(String, &str), Error> {
    let s = s.trim_start();
    if let Some(quoted) = s.strip_prefix('"') {
        let end = quoted
            .find('"')
            .ok_or(Error::Malformed("unterminated quoted value"))?;
        Ok((quoted[..end].replace("%22", "\""), &quoted[end + 1..]))
    } else {
        let end = s.find(';').unwrap_or(s.len());
        Ok((s[..end].trim().to_owned(), &s[end..]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that hands out one byte at a time: every boundary straddles reads.
    struct Trickle<'a>(&'a [u8]);
    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            if self.0.is_empty() || out.is_empty() {
                return Ok(0);
            }
            out[0] = self.0[0];
            self.0 = &self.0[1..];
            Ok(1)
        }
    }

    fn body() -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(b"preamble\r\n--XyZ\r\n");
        b.extend_from_slice(
            b"Content-Disposition: form-data; name=\"csrf\"\r\n\r\ntok123\r\n--XyZ\r\n",
        );
        b.extend_from_slice(
            b"Content-Disposition: form-data; name=\"file\"; filename=\"a %22b%22.txt\"\r\n",
        );
        b.extend_from_slice(b"Content-Type: application/octet-stream\r\n\r\n");
        b.extend_from_slice(b"line1\r\n--Xy not a boundary\r\n\r\n--XyQ");
        b.extend_from_slice(b"\r\n--XyZ--\r\n");
        b
    }

    fn collect<R: Read>(m: &mut Multipart<R>) -> Vec<u8> {
        let mut out = Vec::new();
        std::io::copy(&mut PartReader(m), &mut out).unwrap();
        out
    }

    #[test]
    fn parts_and_bodies_across_any_read_size() {
        let data = body();
        for whole in [true, false] {
            let mut m: Multipart<Box<dyn Read>> = if whole {
                Multipart::new(Box::new(&data[..]), "XyZ")
            } else {
                Multipart::new(Box::new(Trickle(&data)), "XyZ")
            };
            let p = m.next_part().unwrap().unwrap();
            assert_eq!(
                p,
                PartHeaders {
                    name: "csrf".into(),
                    filename: None
                }
            );
            assert_eq!(collect(&mut m), b"tok123");
            let p = m.next_part().unwrap().unwrap();
            assert_eq!(p.filename.as_deref(), Some("a \"b\".txt"));
            assert_eq!(
                collect(&mut m),
                b"line1\r\n--Xy not a boundary\r\n\r\n--XyQ"
            );
            assert!(m.next_part().unwrap().is_none());
        }
    }

    #[test]
    fn truncated_and_malformed() {
        let mut data = body();
        data.truncate(data.len() - 20);
        let mut m = Multipart::new(&data[..], "XyZ");
        m.next_part().unwrap();
        m.next_part().unwrap();
        let mut out = Vec::new();
        assert!(std::io::copy(&mut PartReader(&mut m), &mut out).is_err());
        let bad = b"--XyZ\r\nNo-Colon\r\n\r\nx\r\n--XyZ--";
        assert!(matches!(
            Multipart::new(&bad[..], "XyZ").next_part(),
            Err(Error::Malformed(_))
        ));
        let huge = [b"--XyZ\r\nX: ".as_slice(), &vec![b'a'; 20_000]].concat();
        assert!(Multipart::new(&huge[..], "XyZ").next_part().is_err());
    }

    #[test]
    fn boundary_parameter() {
        assert_eq!(
            boundary("multipart/form-data; boundary=----abc").as_deref(),
            Some("----abc")
        );
        assert_eq!(
            boundary("multipart/form-data; charset=x; boundary=\"q r\"").as_deref(),
            Some("q r")
        );
        assert_eq!(boundary("text/plain; boundary=x"), None);
        assert_eq!(
            boundary(&format!("multipart/form-data; boundary={}", "b".repeat(71))),
            None
        );
    }
}
