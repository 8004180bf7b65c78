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

/// The `<Say language>` tag for haru's language setting: `en…` speaks English, anything
/// else (`ko`, unset, `auto`) Korean, haru's home language.
pub fn say_language(lang: &str) -> &'static str {
    let primary = lang.split(['-', '_']).next().unwrap_or_default();
    if primary.eq_ignore_ascii_case("en") {
        "en-US"
    } else {
        "ko-KR"
    }
}

/// [`say_and_hangup`] with the language given as haru configures it (`ko` / `en`), e.g.
/// the message left on an answering machine.
pub fn say_and_hangup_lang(text: &str, lang: &str) -> String {
    say_and_hangup(text, say_language(lang))
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

    #[test]
    fn language_tags_follow_the_configured_language() {
        assert_eq!(say_language("ko"), "ko-KR");
        assert_eq!(say_language("en"), "en-US");
        assert_eq!(say_language("en-GB"), "en-US");
        assert_eq!(say_language("EN"), "en-US");
        assert_eq!(say_language("auto"), "ko-KR");
        assert_eq!(say_language(""), "ko-KR");
    }

    #[test]
    fn spoken_text_is_escaped_and_reads_back_unchanged() {
        let text = "3 < 5 & \"따옴표\" 'quote' 할머니, 안녕하세요 >";
        let xml = say_and_hangup_lang(text, "ko");
        assert!(
            xml.starts_with(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Say language=\"ko-KR\">"
            ),
            "{xml}"
        );
        assert!(xml.ends_with("</Say><Hangup/></Response>"), "{xml}");
        assert!(xml.contains("3 &lt; 5 &amp; "), "{xml}");
        // Korean is written as-is (UTF-8), not as character references.
        assert!(xml.contains("할머니, 안녕하세요"), "{xml}");
        // Nothing between the tags may open a tag or an entity of its own.
        let inner =
            &xml[xml.find("ko-KR\">").map_or(0, |i| i + 7)..xml.find("</Say>").unwrap_or(0)];
        assert!(!inner.contains('<'), "{inner}");
        assert_eq!(spoken(&xml), text);
        assert!(say_and_hangup_lang("hi", "en").contains("<Say language=\"en-US\">hi</Say>"));
    }

    /// The unescaped text of the document's `<Say>`, as Twilio would read it.
    fn spoken(xml: &str) -> String {
        let mut reader = quick_xml::Reader::from_str(xml);
        let mut out = String::new();
        loop {
            match reader.read_event() {
                Ok(Event::Text(t)) => out.push_str(&t.decode().unwrap()),
                Ok(Event::GeneralRef(r)) => {
                    let name = r.decode().unwrap();
                    let c = quick_xml::escape::resolve_predefined_entity(&name)
                        .unwrap_or_else(|| panic!("unknown entity {name}"));
                    out.push_str(c);
                }
                Ok(Event::Eof) => return out,
                Ok(_) => {}
                Err(e) => panic!("{e}: {xml}"),
            }
        }
    }
}
