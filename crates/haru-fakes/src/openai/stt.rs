//! `POST /v1/audio/transcriptions`: multipart upload in, `{"text"}` out.

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::{
    Endpoint, FakeOpenAiConfig, Fault, Shared, SttRule, delay, generic_fault, invalid, missing,
    server_error,
};
use crate::record::{FieldValue, MultipartField, RecordedBody, UploadedFile, WavInfo, other_body};

/// File extensions the real endpoint accepts (it sniffs format from the name).
const FORMATS: [&str; 10] = [
    "flac", "m4a", "mp3", "mp4", "mpeg", "mpga", "oga", "ogg", "wav", "webm",
];
const RESPONSE_FORMATS: [&str; 5] = ["json", "text", "srt", "verbose_json", "vtt"];

pub(crate) async fn handle(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let fields = match multer::parse_boundary(&content_type) {
        Ok(boundary) => parse_multipart(body.clone(), boundary).await,
        Err(_) => Err(format!(
            "Invalid Content-Type header ({content_type}), expected multipart/form-data."
        )),
    };
    let recorded = match &fields {
        Ok(fields) => RecordedBody::Multipart(fields.clone()),
        Err(_) => other_body(&body),
    };
    let cfg = match shared.begin(Endpoint::Transcriptions, &uri, &headers, recorded) {
        Ok(cfg) => cfg,
        Err(resp) => return resp,
    };
    let fields = match fields {
        Ok(fields) => fields,
        Err(message) => return invalid(message, None, None),
    };
    let language = fields
        .iter()
        .find_map(|f| match &f.value {
            FieldValue::Text(t) if f.name == "language" => Some(t.clone()),
            _ => None,
        })
        .unwrap_or_else(|| "en".to_owned());
    let (wav, format) = match validate(&fields) {
        Ok(v) => v,
        Err(resp) => return resp,
    };

    let fault = shared.take_fault(Endpoint::Transcriptions);
    if let Some(f) = &fault
        && let Some(resp) = generic_fault(&shared, f, "application/json").await
    {
        return resp;
    }
    if !delay(&shared, cfg.stt_delay).await {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let text = match fault {
        Some(Fault::ErrorEvent) => return server_error(),
        Some(Fault::EmptyTranscript) => "  ".to_owned(),
        _ => transcript(&shared, &cfg, wav),
    };
    let duration = wav.map_or(0.0, |w| w.duration.as_secs_f64());
    let (content_type, body) = render(&format, &text, &language, duration);
    if fault == Some(Fault::BrokenStream) {
        return super::truncated(&shared, content_type, Bytes::from(body));
    }
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

/// Reads every field; file parts are summarised, not kept.
async fn parse_multipart(body: Bytes, boundary: String) -> Result<Vec<MultipartField>, String> {
    let stream = futures::stream::once(async move { Ok::<Bytes, Infallible>(body) });
    let mut multipart = multer::Multipart::new(stream, boundary);
    let mut fields = Vec::new();
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(err) => return Err(format!("Could not parse multipart form: {err}")),
        };
        let name = field.name().unwrap_or_default().to_owned();
        let filename = field.file_name().map(str::to_owned);
        let part_type = field.content_type().map(|m| m.to_string());
        let bytes = field
            .bytes()
            .await
            .map_err(|err| format!("Could not parse multipart form: {err}"))?;
        let value = if filename.is_some() || name == "file" {
            FieldValue::File(UploadedFile {
                filename,
                content_type: part_type,
                len: bytes.len(),
                wav: WavInfo::parse(&bytes),
            })
        } else {
            FieldValue::Text(String::from_utf8_lossy(&bytes).into_owned())
        };
        fields.push(MultipartField { name, value });
    }
    Ok(fields)
}

/// Checks required fields; returns the WAV facts and response format.
fn validate(fields: &[MultipartField]) -> Result<(Option<WavInfo>, String), Response> {
    let text = |name: &str| {
        fields.iter().find_map(|f| match &f.value {
            FieldValue::Text(t) if f.name == name => Some(t.as_str()),
            _ => None,
        })
    };
    let file = fields.iter().find_map(|f| match &f.value {
        FieldValue::File(file) if f.name == "file" => Some(file),
        _ => None,
    });
    let Some(file) = file else {
        return Err(missing("file"));
    };
    if text("model").is_none_or(str::is_empty) {
        return Err(missing("model"));
    }
    let ext = file
        .filename
        .as_deref()
        .and_then(|n| n.rsplit_once('.'))
        .map(|(_, ext)| ext.to_ascii_lowercase());
    if !ext.as_deref().is_some_and(|e| FORMATS.contains(&e)) {
        return Err(invalid(
            format!("Invalid file format. Supported formats: {FORMATS:?}"),
            Some("file"),
            None,
        ));
    }
    // We can only look inside WAVs; a broken one is what a client bug
    // (wrong header, empty buffer) looks like, so reject it like OpenAI.
    if file.len == 0 || (ext.as_deref() == Some("wav") && file.wav.is_none()) {
        return Err(invalid(
            "The audio file could not be decoded or its format is not supported.",
            Some("file"),
            None,
        ));
    }
    let format = text("response_format").unwrap_or("json").to_owned();
    if !RESPONSE_FORMATS.contains(&format.as_str()) {
        return Err(invalid(
            format!("Invalid value: '{format}'. Supported values are: {RESPONSE_FORMATS:?}."),
            Some("response_format"),
            Some("invalid_value"),
        ));
    }
    Ok((file.wav, format))
}

fn transcript(shared: &Shared, cfg: &FakeOpenAiConfig, wav: Option<WavInfo>) -> String {
    match &cfg.stt {
        SttRule::Fixed(text) => text.clone(),
        SttRule::Sequence(items) => Shared::pick(&shared.stt_seq, items).to_owned(),
        SttRule::ByDuration(table) => {
            let nearest = match wav {
                Some(wav) => table.iter().min_by_key(|(d, _)| d.abs_diff(wav.duration)),
                None => table.first(),
            };
            nearest.map(|(_, text)| text.clone()).unwrap_or_default()
        }
    }
}

fn render(format: &str, text: &str, language: &str, duration: f64) -> (&'static str, String) {
    match format {
        "text" => ("text/plain; charset=utf-8", text.to_owned()),
        "srt" => (
            "text/plain; charset=utf-8",
            format!("1\n00:00:00,000 --> {}\n{text}\n", timestamp(duration, ',')),
        ),
        "vtt" => (
            "text/plain; charset=utf-8",
            format!(
                "WEBVTT\n\n00:00:00.000 --> {}\n{text}\n",
                timestamp(duration, '.')
            ),
        ),
        "verbose_json" => (
            "application/json",
            json!({
                "task": "transcribe",
                "language": language,
                "duration": duration,
                "text": text,
                "segments": [{
                    "id": 0, "seek": 0, "start": 0.0, "end": duration, "text": text,
                    "tokens": [], "temperature": 0.0, "avg_logprob": -0.2,
                    "compression_ratio": 1.0, "no_speech_prob": 0.01,
                }],
            })
            .to_string(),
        ),
        _ => ("application/json", json!({ "text": text }).to_string()),
    }
}

fn timestamp(secs: f64, sep: char) -> String {
    let ms = (secs.max(0.0) * 1000.0).round() as u64;
    format!(
        "{:02}:{:02}:{:02}{sep}{:03}",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}
