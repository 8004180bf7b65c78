//! TwiML documents, written with a real XML writer so every attribute is escaped.

use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};

/// `<Response><Connect><Stream url=…><Parameter …/>…</Stream></Connect></Response>`.
///
/// `url` must not carry a query string (Twilio rejects one); per-call data goes in
/// `parameters`, which Twilio hands back in the stream's `start.customParameters`.
pub fn connect_stream(url: &str, parameters: &[(&str, &str)]) -> String {
    let mut w = Writer::new(Vec::new());
    // Writing into a Vec cannot fail.
    let _ = w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)));
    let _ = w.write_event(Event::Start(BytesStart::new("Response")));
    let _ = w.write_event(Event::Start(BytesStart::new("Connect")));
    let mut stream = BytesStart::new("Stream");
    stream.push_attribute(("url", url));
    let _ = w.write_event(Event::Start(stream));
    for (name, value) in parameters {
        let mut p = BytesStart::new("Parameter");
        p.push_attribute(("name", *name));
        p.push_attribute(("value", *value));
        let _ = w.write_event(Event::Empty(p));
    }
    let _ = w.write_event(Event::End(BytesEnd::new("Stream")));
    let _ = w.write_event(Event::End(BytesEnd::new("Connect")));
    let _ = w.write_event(Event::End(BytesEnd::new("Response")));
    String::from_utf8(w.into_inner()).unwrap_or_default()
}

/// `<Response><Say language=…>text</Say><Hangup/></Response>`: used when a call cannot be served.
pub fn say_and_hangup(text: &str, language: &str) -> String {
    let mut w = Writer::new(Vec::new());
    let _ = w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)));
    let _ = w.write_event(Event::Start(BytesStart::new("Response")));
    let mut say = BytesStart::new("Say");
    say.push_attribute(("language", language));
    let _ = w.write_event(Event::Start(say));
    let _ = w.write_event(Event::Text(BytesText::new(text)));
    let _ = w.write_event(Event::End(BytesEnd::new("Say")));
    let _ = w.write_event(Event::Empty(BytesStart::new("Hangup")));
    let _ = w.write_event(Event::End(BytesEnd::new("Response")));
    String::from_utf8(w.into_inner()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_stream_matches_twilio_library_output() {
        // What twilio-python's VoiceResponse().connect().stream(url=...).parameter(...) renders.
        let xml = connect_stream(
            "wss://example.ngrok.io/api/twilio/stream",
            &[("callSid", "CA123"), ("token", "t0k")],
        );
        assert_eq!(
            xml,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Connect><Stream url=\"wss://example.ngrok.io/api/twilio/stream\"><Parameter name=\"callSid\" value=\"CA123\"/><Parameter name=\"token\" value=\"t0k\"/></Stream></Connect></Response>"
        );
    }

    #[test]
    fn attribute_values_are_escaped() {
        let xml = connect_stream("wss://h/s", &[("note", "a\"b<c>&'d")]);
        assert!(
            xml.contains("value=\"a&quot;b&lt;c&gt;&amp;&apos;d\""),
            "{xml}"
        );
        let said = say_and_hangup("<안녕>", "ko-KR");
        assert!(
            said.contains("<Say language=\"ko-KR\">&lt;안녕&gt;</Say><Hangup/>"),
            "{said}"
        );
    }
}
