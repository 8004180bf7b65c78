//! Twilio Media Streams WebSocket messages, both directions.
//!
//! Inbound: `connected`, `start`, `media`, `dtmf`, `mark`, `stop`; unknown events parse to
//! [`Inbound::Unknown`] so a new Twilio event never breaks a live call.
//! Outbound: `media`, `mark`, `clear`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The message Twilio sends 50 times a second, read without building a generic value:
/// borrowed strings, no allocation. Anything else (another event, an escaped string) is
/// `None`, and the caller falls back to [`Inbound`].
#[derive(Debug, Deserialize)]
pub struct MediaFrame<'a> {
    event: &'a str,
    #[serde(rename = "streamSid", borrow)]
    pub stream_sid: &'a str,
    #[serde(borrow)]
    pub media: MediaPayload<'a>,
}

#[derive(Debug, Deserialize)]
pub struct MediaPayload<'a> {
    #[serde(default, borrow)]
    pub track: Option<&'a str>,
    /// Base64 µ-law audio.
    #[serde(borrow)]
    pub payload: &'a str,
}

impl<'a> MediaFrame<'a> {
    pub fn parse(text: &'a str) -> Option<Self> {
        serde_json::from_str::<Self>(text)
            .ok()
            .filter(|m| m.event == "media")
    }
}

/// A message Twilio sends to us.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "lowercase")]
pub enum Inbound {
    Connected {
        #[serde(default)]
        protocol: String,
        #[serde(default)]
        version: String,
    },
    Start {
        #[serde(rename = "sequenceNumber", default)]
        sequence_number: Option<String>,
        start: Start,
        #[serde(rename = "streamSid")]
        stream_sid: String,
    },
    Media {
        #[serde(rename = "sequenceNumber", default)]
        sequence_number: Option<String>,
        media: MediaIn,
        #[serde(rename = "streamSid")]
        stream_sid: String,
    },
    Dtmf {
        #[serde(rename = "sequenceNumber", default)]
        sequence_number: Option<String>,
        dtmf: Dtmf,
        #[serde(rename = "streamSid")]
        stream_sid: String,
    },
    Mark {
        #[serde(rename = "sequenceNumber", default)]
        sequence_number: Option<String>,
        mark: MarkBody,
        #[serde(rename = "streamSid")]
        stream_sid: String,
    },
    Stop {
        #[serde(rename = "sequenceNumber", default)]
        sequence_number: Option<String>,
        #[serde(default)]
        stop: Option<StopBody>,
        #[serde(rename = "streamSid")]
        stream_sid: String,
    },
    /// Any event this version does not know: ignored for forward compatibility.
    #[serde(other)]
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Start {
    pub account_sid: String,
    pub stream_sid: String,
    pub call_sid: String,
    #[serde(default)]
    pub tracks: Vec<String>,
    #[serde(default)]
    pub custom_parameters: BTreeMap<String, String>,
    pub media_format: MediaFormat,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MediaFormat {
    pub encoding: String,
    pub sample_rate: u32,
    pub channels: u16,
}

impl MediaFormat {
    /// The only format Twilio uses for bidirectional streams.
    pub fn mulaw_8k() -> Self {
        Self {
            encoding: "audio/x-mulaw".into(),
            sample_rate: 8000,
            channels: 1,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MediaIn {
    #[serde(default)]
    pub track: Option<String>,
    #[serde(default)]
    pub chunk: Option<String>,
    #[serde(default)]
    pub timestamp: Option<String>,
    /// Base64 µ-law audio.
    pub payload: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dtmf {
    #[serde(default)]
    pub track: Option<String>,
    pub digit: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MarkBody {
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StopBody {
    #[serde(default)]
    pub account_sid: Option<String>,
    #[serde(default)]
    pub call_sid: Option<String>,
}

/// A message we send to Twilio.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "lowercase")]
pub enum Outbound {
    Media {
        #[serde(rename = "streamSid")]
        stream_sid: String,
        media: MediaOut,
    },
    Mark {
        #[serde(rename = "streamSid")]
        stream_sid: String,
        mark: MarkBody,
    },
    Clear {
        #[serde(rename = "streamSid")]
        stream_sid: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MediaOut {
    /// Base64 µ-law audio, 8 kHz mono.
    pub payload: String,
}

impl Outbound {
    pub fn to_json(&self) -> String {
        // Serialising these plain structs cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Outbound `media` messages for one stream, written straight into one string each: this
/// message leaves 50 times a second per call and has one shape, so it skips the generic
/// serializer and the per-frame `Outbound` value (the JSON is `Outbound::Media`'s; a test
/// checks it).
#[derive(Debug, Clone)]
pub struct MediaEncoder {
    prefix: String,
}

impl MediaEncoder {
    pub fn new(stream_sid: &str) -> Self {
        // Escaped once, as serde would; serialising a string cannot fail.
        let sid = serde_json::to_string(stream_sid).unwrap_or_else(|_| "\"\"".into());
        Self {
            prefix: format!(r#"{{"event":"media","streamSid":{sid},"media":{{"payload":""#),
        }
    }

    /// One message carrying `mulaw` (8 kHz µ-law, normally one 20 ms frame).
    pub fn encode(&self, mulaw: &[u8]) -> String {
        use base64::Engine as _;
        let mut s = String::with_capacity(self.prefix.len() + mulaw.len().div_ceil(3) * 4 + 3);
        s.push_str(&self.prefix);
        base64::engine::general_purpose::STANDARD.encode_string(mulaw, &mut s);
        s.push_str("\"}}");
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Shapes taken from Twilio's Media Streams documentation.
    #[test]
    fn parses_every_documented_inbound_event() {
        let connected: Inbound =
            serde_json::from_str(r#"{"event":"connected","protocol":"Call","version":"1.0.0"}"#)
                .unwrap();
        assert!(matches!(connected, Inbound::Connected { .. }));

        let start: Inbound = serde_json::from_str(
            r#"{"event":"start","sequenceNumber":"1","start":{"accountSid":"ACxx","streamSid":"MZxx","callSid":"CAxx","tracks":["inbound"],"mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1},"customParameters":{"token":"abc"}},"streamSid":"MZxx"}"#,
        )
        .unwrap();
        let Inbound::Start {
            start, stream_sid, ..
        } = start
        else {
            panic!("not start")
        };
        assert_eq!(stream_sid, "MZxx");
        assert_eq!(start.call_sid, "CAxx");
        assert_eq!(start.custom_parameters["token"], "abc");
        assert_eq!(start.media_format, MediaFormat::mulaw_8k());

        let media: Inbound = serde_json::from_str(
            r#"{"event":"media","sequenceNumber":"3","media":{"track":"inbound","chunk":"1","timestamp":"5","payload":"/w=="},"streamSid":"MZxx"}"#,
        )
        .unwrap();
        assert!(matches!(media, Inbound::Media { ref media, .. } if media.payload == "/w=="));

        let dtmf: Inbound = serde_json::from_str(
            r#"{"event":"dtmf","streamSid":"MZxx","sequenceNumber":"5","dtmf":{"track":"inbound_track","digit":"1"}}"#,
        )
        .unwrap();
        assert!(matches!(dtmf, Inbound::Dtmf { ref dtmf, .. } if dtmf.digit == "1"));

        let mark: Inbound = serde_json::from_str(
            r#"{"event":"mark","sequenceNumber":"4","streamSid":"MZxx","mark":{"name":"s1"}}"#,
        )
        .unwrap();
        assert!(matches!(mark, Inbound::Mark { ref mark, .. } if mark.name == "s1"));

        let stop: Inbound = serde_json::from_str(
            r#"{"event":"stop","sequenceNumber":"5","stop":{"accountSid":"ACxx","callSid":"CAxx"},"streamSid":"MZxx"}"#,
        )
        .unwrap();
        assert!(matches!(stop, Inbound::Stop { .. }));
    }

    #[test]
    fn unknown_events_are_tolerated() {
        let m: Inbound = serde_json::from_str(r#"{"event":"future-thing","x":1}"#).unwrap();
        assert_eq!(m, Inbound::Unknown);
    }

    #[test]
    fn the_media_encoder_writes_what_serde_would() {
        use base64::Engine as _;
        for sid in ["MZ1", "MZ\"odd\\sid", ""] {
            for audio in [&[][..], &[0xFF; 160][..], &[1, 2, 3, 4][..]] {
                let fast: serde_json::Value =
                    serde_json::from_str(&MediaEncoder::new(sid).encode(audio)).unwrap();
                let slow = Outbound::Media {
                    stream_sid: sid.into(),
                    media: MediaOut {
                        payload: base64::engine::general_purpose::STANDARD.encode(audio),
                    },
                };
                assert_eq!(
                    fast,
                    serde_json::to_value(&slow).unwrap(),
                    "{sid:?} {audio:?}"
                );
            }
        }
    }

    #[test]
    fn outbound_messages_have_twilio_shape() {
        let media = Outbound::Media {
            stream_sid: "MZ1".into(),
            media: MediaOut {
                payload: "AAA=".into(),
            },
        };
        assert_eq!(
            media.to_json(),
            r#"{"event":"media","streamSid":"MZ1","media":{"payload":"AAA="}}"#
        );
        let mark = Outbound::Mark {
            stream_sid: "MZ1".into(),
            mark: MarkBody { name: "m".into() },
        };
        assert_eq!(
            mark.to_json(),
            r#"{"event":"mark","streamSid":"MZ1","mark":{"name":"m"}}"#
        );
        let clear = Outbound::Clear {
            stream_sid: "MZ1".into(),
        };
        assert_eq!(clear.to_json(), r#"{"event":"clear","streamSid":"MZ1"}"#);
    }
}

#[cfg(test)]
mod fast_path_tests {
    use super::*;

    #[test]
    fn a_twilio_media_message_is_read_without_the_generic_enum() {
        let text = r#"{"event":"media","sequenceNumber":"3","media":{"track":"inbound","chunk":"1","timestamp":"5","payload":"/////w=="},"streamSid":"MZ18ad3ab5a668481ce02b83e7395059f0"}"#;
        let m = MediaFrame::parse(text).expect("fast path");
        assert_eq!(m.stream_sid, "MZ18ad3ab5a668481ce02b83e7395059f0");
        assert_eq!(m.media.track, Some("inbound"));
        assert_eq!(m.media.payload, "/////w==");
        // The generic parse agrees.
        match serde_json::from_str::<Inbound>(text) {
            Ok(Inbound::Media {
                media, stream_sid, ..
            }) => {
                assert_eq!(media.payload, m.media.payload);
                assert_eq!(stream_sid, m.stream_sid);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn anything_else_falls_back_to_the_generic_parse() {
        for text in [
            r#"{"event":"mark","streamSid":"MZ1","mark":{"name":"h1"}}"#,
            r#"{"event":"media","streamSid":"MZ1"}"#,
            // An escaped slash cannot be borrowed: the generic parse handles it.
            r#"{"event":"media","streamSid":"MZ1","media":{"payload":"\/\/\/\/"}}"#,
            "not json",
        ] {
            assert!(MediaFrame::parse(text).is_none(), "{text}");
        }
        assert!(matches!(
            serde_json::from_str::<Inbound>(
                r#"{"event":"media","streamSid":"MZ1","media":{"payload":"\/\/\/\/"}}"#
            ),
            Ok(Inbound::Media { .. })
        ));
    }
}
