//! Streamed response bodies: a writer task feeds a body through a small
//! channel, optionally cutting the bytes into awkward pieces.

use std::io;

use axum::body::Body;
use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

type Chunk = Result<Bytes, io::Error>;

/// Returned when the client went away or the server is shutting down; the
/// producer should just stop.
pub(crate) struct Closed;

/// Producer side of a streamed body.
pub(crate) struct BodyWriter {
    tx: mpsc::Sender<Chunk>,
    chunker: Option<AwkwardChunker>,
    cancel: CancellationToken,
}

/// Creates a body and its writer. With `awkward_seed`, every `send` is cut
/// into odd pieces written one at a time.
pub(crate) fn streaming_body(
    cancel: CancellationToken,
    awkward_seed: Option<u64>,
) -> (BodyWriter, Body) {
    // Capacity 1: the writer waits for hyper to take each piece, so pieces
    // are flushed separately instead of piling up and being coalesced.
    let (tx, rx) = mpsc::channel::<Chunk>(1);
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    });
    let writer = BodyWriter {
        tx,
        chunker: awkward_seed.map(AwkwardChunker::new),
        cancel,
    };
    (writer, Body::from_stream(stream))
}

impl BodyWriter {
    /// Writes `bytes` (in pieces when chunking awkwardly).
    pub(crate) async fn send(&mut self, bytes: Bytes) -> Result<(), Closed> {
        let pieces = match self.chunker.as_mut() {
            Some(chunker) => chunker.split(bytes),
            None => vec![bytes],
        };
        let many = pieces.len() > 1;
        for piece in pieces {
            self.push(Ok(piece)).await?;
            if many {
                // Let the connection task write this piece before the next.
                tokio::task::yield_now().await;
            }
        }
        Ok(())
    }

    /// Cuts the connection: hyper aborts a body that yields an error, so the
    /// client sees a truncated response rather than a clean end.
    pub(crate) async fn fail(mut self) {
        let _ = self
            .push(Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "haru-fakes: injected broken stream",
            )))
            .await;
    }

    /// Waits until `deadline`; fails if the client left or the server stops.
    pub(crate) async fn sleep_until(&self, deadline: Instant) -> Result<(), Closed> {
        if deadline <= Instant::now() {
            return if self.tx.is_closed() {
                Err(Closed)
            } else {
                Ok(())
            };
        }
        tokio::select! {
            _ = tokio::time::sleep_until(deadline) => Ok(()),
            _ = self.cancel.cancelled() => Err(Closed),
            _ = self.tx.closed() => Err(Closed),
        }
    }

    async fn push(&mut self, chunk: Chunk) -> Result<(), Closed> {
        tokio::select! {
            sent = self.tx.send(chunk) => sent.map_err(|_| Closed),
            _ = self.cancel.cancelled() => Err(Closed),
        }
    }
}

/// Splits byte strings at pseudo-random points, so clients must reassemble
/// lines, JSON and UTF-8 characters across reads. Deterministic per seed.
pub(crate) struct AwkwardChunker {
    state: u64,
}

impl AwkwardChunker {
    pub(crate) fn new(seed: u64) -> Self {
        // xorshift must not start at zero.
        Self {
            state: seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
        }
    }

    fn next(&mut self) -> u64 {
        // xorshift64*: tiny, good enough to vary cut points.
        let mut x = self.state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// Cuts `bytes` into 2–5 pieces (1 if shorter than 2 bytes). Always cuts
    /// inside a multi-byte UTF-8 character when there is one, and often just
    /// before the final byte (splitting the `\n\n` event terminator).
    pub(crate) fn split(&mut self, bytes: Bytes) -> Vec<Bytes> {
        let len = bytes.len();
        if len < 2 {
            return vec![bytes];
        }
        let mut cuts: Vec<usize> = Vec::with_capacity(5);
        let random_cuts = 1 + self.below(3);
        for _ in 0..random_cuts {
            cuts.push(1 + self.below(len - 1));
        }
        // A continuation byte (10xxxxxx) never starts a character, so cutting
        // before one splits a character. Search from a random start.
        let start = self.below(len);
        if let Some(pos) = (start..len)
            .chain(1..start)
            .find(|&i| i > 0 && bytes[i] & 0xC0 == 0x80)
        {
            cuts.push(pos);
        }
        if self.below(3) == 0 {
            cuts.push(len - 1);
        }
        cuts.sort_unstable();
        cuts.dedup();
        let mut pieces = Vec::with_capacity(cuts.len() + 1);
        let mut prev = 0;
        for cut in cuts {
            pieces.push(bytes.slice(prev..cut));
            prev = cut;
        }
        pieces.push(bytes.slice(prev..));
        pieces
    }
}

/// One SSE event carrying `data`.
pub(crate) fn event(data: &str) -> String {
    format!("data: {data}\n\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_reassemble_and_split_utf8() {
        let text = "data: {\"content\":\"안녕하세요 반갑습니다\"}\n\n";
        for seed in 0..200 {
            let mut chunker = AwkwardChunker::new(seed);
            let pieces = chunker.split(Bytes::from(text));
            assert!(pieces.len() >= 2);
            let joined: Vec<u8> = pieces.iter().flat_map(|p| p.iter().copied()).collect();
            assert_eq!(joined, text.as_bytes());
            assert!(
                pieces.iter().any(|p| std::str::from_utf8(p).is_err()),
                "seed {seed}: no piece splits a character"
            );
        }
    }

    #[test]
    fn tiny_inputs_are_kept() {
        let mut chunker = AwkwardChunker::new(7);
        assert_eq!(chunker.split(Bytes::from_static(b"x")).len(), 1);
        assert_eq!(chunker.split(Bytes::new()).len(), 1);
    }
}
