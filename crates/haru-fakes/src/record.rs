//! What the fake OpenAI server remembers about each request, for assertions.

use std::collections::VecDeque;
use std::io::Cursor;
use std::sync::Mutex;
use std::time::Duration;

use crate::openai::Endpoint;

/// One request received by [`crate::FakeOpenAi`], recorded before validation
/// (so rejected requests are visible too).
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    /// Which endpoint was called.
    pub endpoint: Endpoint,
    /// Request path, e.g. `/v1/chat/completions`.
    pub path: String,
    /// All request headers, names lower-cased, in arrival order.
    pub headers: Vec<(String, String)>,
    /// The parsed body.
    pub body: RecordedBody,
}

impl RecordedRequest {
    /// First header with this (case-insensitive) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The `Authorization` header, if any.
    pub fn authorization(&self) -> Option<&str> {
        self.header("authorization")
    }

    /// The `Content-Type` header, if any.
    pub fn content_type(&self) -> Option<&str> {
        self.header("content-type")
    }

    /// The JSON body, if the body parsed as JSON.
    pub fn json(&self) -> Option<&serde_json::Value> {
        match &self.body {
            RecordedBody::Json(v) => Some(v),
            _ => None,
        }
    }

    /// A multipart text field by name.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.multipart_fields()
            .iter()
            .find(|f| f.name == name)
            .and_then(|f| match &f.value {
                FieldValue::Text(t) => Some(t.as_str()),
                FieldValue::File(_) => None,
            })
    }

    /// A multipart file field by name.
    pub fn file(&self, name: &str) -> Option<&UploadedFile> {
        self.multipart_fields()
            .iter()
            .find(|f| f.name == name)
            .and_then(|f| match &f.value {
                FieldValue::File(file) => Some(file),
                FieldValue::Text(_) => None,
            })
    }

    fn multipart_fields(&self) -> &[MultipartField] {
        match &self.body {
            RecordedBody::Multipart(fields) => fields,
            _ => &[],
        }
    }
}

/// A request body as the fake understood it.
#[derive(Debug, Clone)]
pub enum RecordedBody {
    /// Body was valid JSON.
    Json(serde_json::Value),
    /// Body was `multipart/form-data`; fields in arrival order.
    Multipart(Vec<MultipartField>),
    /// Anything else (including unparsable JSON or multipart): its length and,
    /// if it is UTF-8, up to the first 4 KiB of it.
    Other {
        /// Body length in bytes.
        len: usize,
        /// Leading text of the body when it is valid UTF-8.
        text: Option<String>,
    },
}

/// One multipart field.
#[derive(Debug, Clone)]
pub struct MultipartField {
    /// Field name (`file`, `model`, ...).
    pub name: String,
    /// Its value.
    pub value: FieldValue,
}

/// A multipart field's value: text, or a summary of an uploaded file (the
/// bytes themselves are not kept, to stay cheap under load).
#[derive(Debug, Clone)]
pub enum FieldValue {
    /// A text field (non-UTF-8 bytes replaced lossily).
    Text(String),
    /// A file part.
    File(UploadedFile),
}

/// Summary of an uploaded file.
#[derive(Debug, Clone)]
pub struct UploadedFile {
    /// The part's `filename`, if given.
    pub filename: Option<String>,
    /// The part's `Content-Type`, if given.
    pub content_type: Option<String>,
    /// Size in bytes.
    pub len: usize,
    /// Header facts when the file is a readable WAV.
    pub wav: Option<WavInfo>,
}

/// Facts read from a WAV header.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WavInfo {
    /// Samples per second.
    pub sample_rate: u32,
    /// Channel count.
    pub channels: u16,
    /// Bits per sample.
    pub bits_per_sample: u16,
    /// Audio duration (frames / sample rate).
    pub duration: Duration,
}

impl WavInfo {
    /// Parses a WAV header; `None` if the bytes are not a WAV hound can read.
    pub(crate) fn parse(bytes: &[u8]) -> Option<Self> {
        let reader = hound::WavReader::new(Cursor::new(bytes)).ok()?;
        let spec = reader.spec();
        if spec.sample_rate == 0 {
            return None;
        }
        // `duration()` is in frames (samples per channel).
        let frames = u64::from(reader.duration());
        Some(Self {
            sample_rate: spec.sample_rate,
            channels: spec.channels,
            bits_per_sample: spec.bits_per_sample,
            duration: Duration::from_secs_f64(frames as f64 / f64::from(spec.sample_rate)),
        })
    }
}

/// Bounded request log. Bounded because a benchmark can send millions of
/// requests; the oldest entries are dropped first.
pub(crate) struct RequestLog<T> {
    entries: Mutex<VecDeque<T>>,
    cap: usize,
}

impl<T: Clone> RequestLog<T> {
    pub(crate) fn new(cap: usize) -> Self {
        Self {
            entries: Mutex::new(VecDeque::new()),
            cap,
        }
    }

    pub(crate) fn push(&self, entry: T) {
        if self.cap == 0 {
            return;
        }
        let mut entries = lock(&self.entries);
        if entries.len() >= self.cap {
            entries.pop_front();
        }
        entries.push_back(entry);
    }

    pub(crate) fn snapshot(&self) -> Vec<T> {
        lock(&self.entries).iter().cloned().collect()
    }

    pub(crate) fn clear(&self) {
        lock(&self.entries).clear();
    }
}

/// Locks a std mutex, ignoring poisoning: the data behind our mutexes stays
/// consistent even if a holder panicked (every update is a single step).
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Header pairs with lower-cased names; non-UTF-8 values replaced lossily.
pub(crate) fn header_pairs(headers: &axum::http::HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect()
}

/// `RecordedBody::Other` for a body we could not (or did not) parse.
pub(crate) fn other_body(bytes: &[u8]) -> RecordedBody {
    const KEEP: usize = 4096;
    let text = std::str::from_utf8(bytes).ok().map(|s| {
        let mut end = s.len().min(KEEP);
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s[..end].to_owned()
    });
    RecordedBody::Other {
        len: bytes.len(),
        text,
    }
}
