//! TYPE A line-ending conversion: LF → CRLF when sending, CRLF → LF when receiving. Both are
//! streaming converters that keep state across buffer boundaries.

/// Converts local text (LF) to network text (CRLF). A CRLF already in the file is left alone.
#[derive(Debug, Default)]
pub struct ToNetwork {
    last_was_cr: bool,
}

impl ToNetwork {
    pub fn convert(&mut self, input: &[u8], out: &mut Vec<u8>) {
        out.clear();
        out.reserve(input.len() + input.len() / 16);
        for &b in input {
            if b == b'\n' && !self.last_was_cr {
                out.push(b'\r');
            }
            out.push(b);
            self.last_was_cr = b == b'\r';
        }
    }
}

/// Converts network text (CRLF) to local text (LF). A lone CR is kept.
#[derive(Debug, Default)]
pub struct FromNetwork {
    pending_cr: bool,
}

impl FromNetwork {
    pub fn convert(&mut self, input: &[u8], out: &mut Vec<u8>) {
        out.clear();
        out.reserve(input.len() + 1);
        for &b in input {
            if self.pending_cr {
                self.pending_cr = false;
                if b != b'\n' {
                    out.push(b'\r');
                }
            }
            if b == b'\r' {
                self.pending_cr = true;
            } else {
                out.push(b);
            }
        }
    }

    /// Flushes a CR held back at the very end of the stream.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        out.clear();
        if std::mem::take(&mut self.pending_cr) {
            out.push(b'\r');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn to_net(chunks: &[&[u8]]) -> Vec<u8> {
        let mut c = ToNetwork::default();
        let mut all = Vec::new();
        let mut out = Vec::new();
        for ch in chunks {
            c.convert(ch, &mut out);
            all.extend_from_slice(&out);
        }
        all
    }

    fn from_net(chunks: &[&[u8]]) -> Vec<u8> {
        let mut c = FromNetwork::default();
        let mut all = Vec::new();
        let mut out = Vec::new();
        for ch in chunks {
            c.convert(ch, &mut out);
            all.extend_from_slice(&out);
        }
        c.finish(&mut out);
        all.extend_from_slice(&out);
        all
    }

    #[test]
    fn lf_to_crlf_across_chunks() {
        assert_eq!(
            to_net(&[b"a\nb", b"\n", b"c\r", b"\nd"]),
            b"a\r\nb\r\nc\r\nd"
        );
    }

    #[test]
    fn crlf_to_lf_across_chunks() {
        assert_eq!(from_net(&[b"a\r", b"\nb\r\n", b"c\rd\r"]), b"a\nb\nc\rd\r");
    }
}
