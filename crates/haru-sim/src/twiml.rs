//! Reading the TwiML the voice webhook answers with, the way Twilio would.

use anyhow::{Context, Result, anyhow, bail};
use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

/// Where `<Connect><Stream>` tells Twilio to open the media WebSocket.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamTarget {
    /// `ws://` or `wss://` URL of the media stream.
    pub url: String,
    /// `<Parameter name value>` pairs, handed back in `start.customParameters`.
    pub parameters: Vec<(String, String)>,
}

/// Finds `<Response><Connect><Stream url=…>` and its `<Parameter>` children.
///
/// Only a bidirectional `<Connect><Stream>` is accepted: `<Start><Stream>` forks audio
/// one-way and could never carry the bot's voice back.
pub fn parse_connect_stream(xml: &str) -> Result<StreamTarget> {
    let mut reader = Reader::from_str(xml);
    reader.config_mut().trim_text(true);
    let mut path: Vec<String> = Vec::new();
    let mut target: Option<StreamTarget> = None;
    let mut saw_response = false;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| anyhow!("TwiML is not well-formed XML: {e}"))?;
        match event {
            Event::Start(e) => {
                let name = local_name(&e);
                visit(&name, &e, &path, &mut target, &mut saw_response)?;
                path.push(name);
            }
            Event::Empty(e) => {
                let name = local_name(&e);
                visit(&name, &e, &path, &mut target, &mut saw_response)?;
            }
            Event::End(_) => {
                path.pop();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !saw_response {
        bail!("not TwiML: no <Response> element in {}", snippet(xml));
    }
    target.ok_or_else(|| {
        anyhow!(
            "TwiML has no <Connect><Stream>, so there is no media stream to open: {}",
            snippet(xml)
        )
    })
}

fn visit(
    name: &str,
    e: &BytesStart<'_>,
    path: &[String],
    target: &mut Option<StreamTarget>,
    saw_response: &mut bool,
) -> Result<()> {
    let parent = |p: &[&str]| path.len() >= p.len() && path[path.len() - p.len()..] == *p;
    match name {
        "Response" => *saw_response = true,
        "Stream" if parent(&["Response", "Connect"]) && target.is_none() => {
            let url = attr(e, "url")?
                .ok_or_else(|| anyhow!("<Stream> in the TwiML has no url attribute"))?;
            let parsed = url::Url::parse(&url)
                .with_context(|| format!("<Stream url={url:?}> is not a URL"))?;
            if !matches!(parsed.scheme(), "ws" | "wss") {
                bail!("<Stream url={url:?}> must be ws:// or wss://");
            }
            *target = Some(StreamTarget {
                url,
                parameters: Vec::new(),
            });
        }
        "Parameter" if parent(&["Connect", "Stream"]) => {
            if let Some(t) = target.as_mut() {
                let name = attr(e, "name")?.unwrap_or_default();
                let value = attr(e, "value")?.unwrap_or_default();
                t.parameters.push((name, value));
            }
        }
        _ => {}
    }
    Ok(())
}

fn local_name(e: &BytesStart<'_>) -> String {
    String::from_utf8_lossy(e.local_name().as_ref()).into_owned()
}

fn attr(e: &BytesStart<'_>, key: &str) -> Result<Option<String>> {
    for a in e.attributes() {
        let a = a.map_err(|err| anyhow!("bad XML attribute in TwiML: {err}"))?;
        if a.key.local_name().as_ref() == key.as_bytes() {
            let v = a
                .unescape_value()
                .map_err(|err| anyhow!("bad XML attribute value in TwiML: {err}"))?;
            return Ok(Some(v.into_owned()));
        }
    }
    Ok(None)
}

fn snippet(s: &str) -> String {
    let s = s.trim();
    match s.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_haru_telephony_writes() {
        let xml = haru_telephony::twiml::connect_stream(
            "wss://example.test/api/twilio/stream",
            &[("callSid", "CA1"), ("token", "a\"b<c>&'d")],
        );
        let t = parse_connect_stream(&xml).unwrap();
        assert_eq!(t.url, "wss://example.test/api/twilio/stream");
        assert_eq!(
            t.parameters,
            vec![
                ("callSid".to_string(), "CA1".to_string()),
                ("token".to_string(), "a\"b<c>&'d".to_string())
            ]
        );
    }

    #[test]
    fn tolerates_whitespace_and_other_verbs() {
        let xml = r#"<?xml version="1.0"?>
            <Response>
              <Say>hi</Say>
              <Connect>
                <Stream url="ws://127.0.0.1:1/s" name="x" />
              </Connect>
            </Response>"#;
        let t = parse_connect_stream(xml).unwrap();
        assert_eq!(t.url, "ws://127.0.0.1:1/s");
        assert!(t.parameters.is_empty());
    }

    #[test]
    fn rejects_twiml_without_connect_stream() {
        let xml = haru_telephony::twiml::say_and_hangup("sorry", "en-US");
        let err = parse_connect_stream(&xml).unwrap_err().to_string();
        assert!(err.contains("no <Connect><Stream>"), "{err}");
        let one_way = r#"<Response><Start><Stream url="wss://x/y"/></Start></Response>"#;
        assert!(parse_connect_stream(one_way).is_err());
        assert!(parse_connect_stream("{\"json\":true}").is_err());
        let http = r#"<Response><Connect><Stream url="https://x/y"/></Connect></Response>"#;
        assert!(parse_connect_stream(http).is_err());
    }
}
