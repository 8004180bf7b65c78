//! Server-sent events, parsed incrementally from bytes that may be split anywhere
//! (mid-line, mid-UTF-8 character). Only what chat streaming needs: `data:` fields and
//! blank-line event boundaries.

/// Accumulates bytes and yields the `data` payload of each complete event.
#[derive(Default)]
pub struct SseParser {
    buf: Vec<u8>,
    data: Vec<u8>,
    has_data: bool,
}

impl SseParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds bytes; returns the data of every event completed by them.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<String> {
        self.buf.extend_from_slice(bytes);
        let mut events = Vec::new();
        let mut start = 0;
        while let Some(pos) = self.buf[start..].iter().position(|&b| b == b'\n') {
            let end = start + pos;
            let mut line = &self.buf[start..end];
            if line.last() == Some(&b'\r') {
                line = &line[..line.len() - 1];
            }
            if line.is_empty() {
                if self.has_data {
                    events.push(String::from_utf8_lossy(&self.data).into_owned());
                }
                self.data.clear();
                self.has_data = false;
            } else if let Some(rest) = line.strip_prefix(b"data:") {
                let rest = rest.strip_prefix(b" ").unwrap_or(rest);
                if self.has_data {
                    self.data.push(b'\n');
                }
                self.data.extend_from_slice(rest);
                self.has_data = true;
            }
            // Comments (`:`), `event:`, `id:` and `retry:` lines are not needed here.
            start = end + 1;
        }
        self.buf.drain(..start);
        events
    }

    /// Bytes received after the last complete line (non-empty means the stream was cut).
    pub fn pending(&self) -> usize {
        self.buf.len() + self.data.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_at_every_byte_boundary_reassemble() {
        let stream = "data: {\"a\":\"안녕\"}\n\n: keepalive\n\ndata: [DONE]\r\n\r\n".as_bytes();
        for split in 1..stream.len() {
            let mut p = SseParser::new();
            let mut got = p.push(&stream[..split]);
            got.extend(p.push(&stream[split..]));
            assert_eq!(
                got,
                vec!["{\"a\":\"안녕\"}".to_string(), "[DONE]".to_string()],
                "split {split}"
            );
        }
    }

    #[test]
    fn multi_line_data_is_joined_and_partial_tail_reported() {
        let mut p = SseParser::new();
        assert_eq!(p.push(b"data: a\ndata: b\n\ndata: c"), vec!["a\nb"]);
        assert!(p.pending() > 0);
    }
}
