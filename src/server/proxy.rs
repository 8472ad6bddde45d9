//! The PROXY protocol header (HAProxy's v1 text and v2 binary forms) in front of a control
//! connection from a trusted proxy: framed here, read to its last byte and not one byte
//! further (an implicit-TLS client's handshake follows it at once), and parsed by `ppp`.

use std::io::{self, Read};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use ppp::{v1, v2};

use super::net;

/// How every v2 header begins.
const V2_SIGNATURE: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";
/// The longest v1 line, CRLF included (the protocol's own bound).
const V1_MAX: usize = 107;
/// The longest v2 address block with TLVs accepted. HAProxy's `send-proxy-v2` sends 12 or
/// 36 bytes of addresses and a few short TLVs at most.
///
/// SECURITY: the 16-bit length field alone would let a peer make us buffer 64 KiB.
const V2_MAX_BODY: usize = 2048;

#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("no PROXY protocol header within {0} s")]
    Timeout(u64),
    #[error("the connection does not start with a PROXY protocol header")]
    Missing,
    #[error("malformed PROXY protocol header")]
    Malformed,
    #[error("PROXY protocol header longer than {0} bytes")]
    TooLong(usize),
    #[error(transparent)]
    Io(io::Error),
}

/// Reads the header at the start of `stream` within `timeout` and returns the client the
/// proxy speaks for; `None` when the proxy speaks for itself (a v2 LOCAL health check, v1
/// `UNKNOWN`, or an address family other than TCP over IPv4/IPv6).
///
/// SECURITY: the deadline is absolute, so a proxy (or a peer posing as one) dripping bytes
/// holds the worker no longer than `timeout`.
pub fn read_header(
    stream: &TcpStream,
    timeout: Duration,
) -> Result<Option<SocketAddr>, ProxyError> {
    let mut reader = Deadline {
        stream,
        until: Instant::now() + timeout,
        timeout,
    };
    let mut head = [0u8; 12];
    reader.fill(&mut head)?;
    if &head == V2_SIGNATURE {
        read_v2(&mut reader, head)
    } else if head.starts_with(b"PROXY ") {
        read_v1(&mut reader, head)
    } else {
        Err(ProxyError::Missing)
    }
}

fn read_v2(reader: &mut Deadline<'_>, head: [u8; 12]) -> Result<Option<SocketAddr>, ProxyError> {
    let mut header = Vec::with_capacity(16 + 36);
    header.extend_from_slice(&head);
    let mut fixed = [0u8; 4];
    reader.fill(&mut fixed)?;
    header.extend_from_slice(&fixed);
    let body = usize::from(u16::from_be_bytes([fixed[2], fixed[3]]));
    if body > V2_MAX_BODY {
        return Err(ProxyError::TooLong(16 + V2_MAX_BODY));
    }
    header.resize(16 + body, 0);
    reader.fill(&mut header[16..])?;
    client_of_v2(&header)
}

/// The client a whole v2 header names (`None`: the proxy itself).
fn client_of_v2(header: &[u8]) -> Result<Option<SocketAddr>, ProxyError> {
    let parsed = v2::Header::try_from(header).map_err(|_| ProxyError::Malformed)?;
    if parsed.command == v2::Command::Local {
        return Ok(None);
    }
    Ok(match parsed.addresses {
        v2::Addresses::IPv4(a) => Some(SocketAddr::from((a.source_address, a.source_port))),
        v2::Addresses::IPv6(a) => Some(SocketAddr::from((a.source_address, a.source_port))),
        v2::Addresses::Unspecified | v2::Addresses::Unix(_) => None,
    })
}

/// v1 is a line: read a byte at a time up to its CRLF (at most `V1_MAX` bytes, so at most
/// 95 reads after the first 12).
fn read_v1(reader: &mut Deadline<'_>, head: [u8; 12]) -> Result<Option<SocketAddr>, ProxyError> {
    let mut line = head.to_vec();
    while !line.ends_with(b"\r\n") {
        if line.len() >= V1_MAX {
            return Err(ProxyError::TooLong(V1_MAX));
        }
        let mut byte = [0u8; 1];
        reader.fill(&mut byte)?;
        line.push(byte[0]);
    }
    client_of_v1(&line)
}

/// The client a whole v1 line names (`None`: `UNKNOWN`).
fn client_of_v1(line: &[u8]) -> Result<Option<SocketAddr>, ProxyError> {
    let parsed = v1::Header::try_from(line).map_err(|_| ProxyError::Malformed)?;
    Ok(match parsed.addresses {
        v1::Addresses::Tcp4(a) => Some(SocketAddr::from((a.source_address, a.source_port))),
        v1::Addresses::Tcp6(a) => Some(SocketAddr::from((a.source_address, a.source_port))),
        v1::Addresses::Unknown => None,
    })
}

/// The client named by a header that has already arrived whole, read without taking it
/// from the socket (the worker reads it again with `read_header`): `Some(None)` when the
/// proxy speaks for itself, `None` when no whole, valid header is there within `wait`.
///
/// SECURITY: lets admission judge a proxied connection by its real client before it may
/// evict a waiting session for it.
pub fn peek_client(stream: &TcpStream, wait: Duration) -> Option<Option<SocketAddr>> {
    let until = Instant::now() + wait;
    let mut buf = [0u8; 16 + V2_MAX_BODY];
    loop {
        let n = net::peek_now(stream, &mut buf).unwrap_or(0);
        match frame(&buf[..n]) {
            Framing::Whole(len) if buf.starts_with(V2_SIGNATURE) => {
                return client_of_v2(&buf[..len]).ok();
            }
            Framing::Whole(len) => return client_of_v1(&buf[..len]).ok(),
            Framing::Invalid => return None,
            Framing::Partial if Instant::now() >= until => return None,
            Framing::Partial => std::thread::sleep(PEEK_RETRY),
        }
    }
}

/// How long `peek_client` sleeps between looks at a header still on its way.
const PEEK_RETRY: Duration = Duration::from_millis(5);

/// What the start of a connection holds so far.
#[derive(Debug, PartialEq, Eq)]
enum Framing {
    /// A header of this many bytes, whole.
    Whole(usize),
    /// The start of one (or nothing yet).
    Partial,
    /// Not a header, or one over its bound.
    Invalid,
}

fn frame(buf: &[u8]) -> Framing {
    let head = &buf[..buf.len().min(12)];
    if buf.len() >= 16 && buf.starts_with(V2_SIGNATURE) {
        let body = usize::from(u16::from_be_bytes([buf[14], buf[15]]));
        return match body {
            _ if body > V2_MAX_BODY => Framing::Invalid,
            _ if buf.len() >= 16 + body => Framing::Whole(16 + body),
            _ => Framing::Partial,
        };
    }
    if V2_SIGNATURE.starts_with(head) {
        return Framing::Partial;
    }
    if buf.len() >= 6 && buf.starts_with(b"PROXY ") {
        let scan = &buf[..buf.len().min(V1_MAX)];
        return match scan.windows(2).position(|w| w == b"\r\n") {
            Some(at) => Framing::Whole(at + 2),
            None if scan.len() >= V1_MAX => Framing::Invalid,
            None => Framing::Partial,
        };
    }
    if b"PROXY ".starts_with(&buf[..buf.len().min(6)]) {
        return Framing::Partial;
    }
    Framing::Invalid
}

/// Reads from a socket against one absolute deadline.
struct Deadline<'a> {
    stream: &'a TcpStream,
    until: Instant,
    timeout: Duration,
}

impl Deadline<'_> {
    fn fill(&mut self, mut buf: &mut [u8]) -> Result<(), ProxyError> {
        while !buf.is_empty() {
            let left = self.until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(ProxyError::Timeout(self.timeout.as_secs()));
            }
            self.stream
                .set_read_timeout(Some(left))
                .map_err(ProxyError::Io)?;
            match self.stream.read(buf) {
                Ok(0) => return Err(ProxyError::Io(io::ErrorKind::UnexpectedEof.into())),
                Ok(n) => buf = &mut buf[n..],
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return Err(ProxyError::Timeout(self.timeout.as_secs()));
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(ProxyError::Io(e)),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::net::TcpListener;

    use super::*;

    /// Sends `bytes` then `after`, and reads the header on the server side.
    fn header_of(bytes: &[u8], after: &[u8]) -> (Result<Option<SocketAddr>, ProxyError>, Vec<u8>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        client.write_all(bytes).unwrap();
        client.write_all(after).unwrap();
        drop(client);
        let (mut server, _) = listener.accept().unwrap();
        let result = read_header(&server, Duration::from_secs(2));
        let mut rest = Vec::new();
        server.read_to_end(&mut rest).unwrap();
        (result, rest)
    }

    fn v2(command: u8, family: u8, body: &[u8]) -> Vec<u8> {
        let mut h = V2_SIGNATURE.to_vec();
        h.extend_from_slice(&[command, family]);
        h.extend_from_slice(&(body.len() as u16).to_be_bytes());
        h.extend_from_slice(body);
        h
    }

    #[test]
    fn v1_names_the_client_and_leaves_what_follows_unread() {
        let (got, rest) = header_of(b"PROXY TCP4 127.0.0.5 127.0.0.10 40000 21\r\n", b"\x16\x03");
        assert_eq!(got.unwrap(), Some("127.0.0.5:40000".parse().unwrap()));
        assert_eq!(rest, b"\x16\x03");
        let (got, _) = header_of(b"PROXY TCP6 ::1 ::1 40001 21\r\n", b"");
        assert_eq!(got.unwrap(), Some("[::1]:40001".parse().unwrap()));
        let (got, _) = header_of(b"PROXY UNKNOWN\r\n", b"");
        assert_eq!(got.unwrap(), None);
    }

    #[test]
    fn v2_proxy_names_the_client_and_local_speaks_for_the_proxy() {
        let mut body = vec![127, 0, 0, 7, 127, 0, 0, 10];
        body.extend_from_slice(&41000u16.to_be_bytes());
        body.extend_from_slice(&21u16.to_be_bytes());
        body.extend_from_slice(&[0x04, 0, 1, 42]); // a NOOP TLV
        let (got, rest) = header_of(&v2(0x21, 0x11, &body), b"USER x\r\n");
        assert_eq!(got.unwrap(), Some("127.0.0.7:41000".parse().unwrap()));
        assert_eq!(rest, b"USER x\r\n");
        let (got, _) = header_of(&v2(0x20, 0x00, &[]), b"");
        assert_eq!(got.unwrap(), None);
    }

    #[test]
    fn anything_else_is_refused() {
        let (got, _) = header_of(b"USER alice\r\nPASS x\r\n", b"");
        assert!(matches!(got, Err(ProxyError::Missing)));
        let (got, _) = header_of(b"PROXY TCP4 not an address\r\n", b"");
        assert!(matches!(got, Err(ProxyError::Malformed)));
        let long = format!("PROXY TCP4 {}\r\n", "1".repeat(200));
        let (got, _) = header_of(long.as_bytes(), b"");
        assert!(matches!(got, Err(ProxyError::TooLong(V1_MAX))));
        let (got, _) = header_of(&v2(0x21, 0x11, &[0u8; 3000]), b"");
        assert!(matches!(got, Err(ProxyError::TooLong(_))));
        let (got, _) = header_of(b"PROXY TCP4 127.0.0.1", b"");
        assert!(matches!(got, Err(ProxyError::Io(_))));
    }

    #[test]
    fn framing_finds_whole_headers_and_waits_for_partial_ones() {
        let v1 = b"PROXY TCP4 127.0.0.5 127.0.0.10 40000 21\r\nUSER x\r\n";
        assert_eq!(frame(v1), Framing::Whole(42));
        assert_eq!(frame(&v1[..20]), Framing::Partial);
        assert_eq!(frame(b"PRO"), Framing::Partial);
        assert_eq!(frame(b""), Framing::Partial);
        assert_eq!(frame(b"USER alice\r\n"), Framing::Invalid);
        assert_eq!(
            frame(format!("PROXY {}", "1".repeat(200)).as_bytes()),
            Framing::Invalid
        );
        let header = v2(0x21, 0x11, &[127, 0, 0, 7, 127, 0, 0, 10, 0, 1, 0, 21]);
        assert_eq!(frame(&header), Framing::Whole(28));
        assert_eq!(frame(&header[..20]), Framing::Partial);
        assert_eq!(frame(&header[..8]), Framing::Partial);
        assert_eq!(frame(&v2(0x21, 0x11, &[0u8; 3000])[..16]), Framing::Invalid);
    }

    #[test]
    fn a_peeked_header_stays_for_the_worker() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        assert_eq!(peek_client(&server, Duration::from_millis(20)), None);
        client
            .write_all(b"PROXY TCP4 127.0.0.5 127.0.0.10 40000 21\r\n")
            .unwrap();
        let peeked = peek_client(&server, Duration::from_secs(2));
        assert_eq!(peeked, Some(Some("127.0.0.5:40000".parse().unwrap())));
        let read = read_header(&server, Duration::from_secs(2)).unwrap();
        assert_eq!(read, Some("127.0.0.5:40000".parse().unwrap()));
    }

    #[test]
    fn a_silent_peer_times_out() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let _client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        let got = read_header(&server, Duration::from_millis(200));
        assert!(matches!(got, Err(ProxyError::Timeout(_))));
    }
}
