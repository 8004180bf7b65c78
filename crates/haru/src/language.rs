//! The fixed texts of a call in each language haru speaks, for a person whose language is
//! not the service's default.

pub struct Texts {
    pub system_prompt: String,
    pub goodbye: String,
    pub apology: String,
    pub idle_prompt: String,
    pub end_keywords: Vec<String>,
    pub acks: Vec<String>,
}

pub fn texts(language: &str) -> Texts {
    if language == "en" {
        Texts {
            system_prompt:
                "You are Haru, a warm and caring companion who phones people every day. \
                Ask about their day, listen, and answer with empathy. Speak in one or two short, \
                natural spoken sentences; no lists, emoji or symbols."
                    .into(),
            goodbye: "Thank you for talking with me today. Take care, goodbye!".into(),
            apology: "Sorry, something went wrong for a moment. Could you say that again?".into(),
            idle_prompt: "Are you still there?".into(),
            end_keywords: ["goodbye", "bye", "hang up"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            acks: vec!["I see.".into()],
        }
    } else {
        let d = haru_session::SessionConfig::default();
        Texts {
            system_prompt: d.system_prompt,
            goodbye: d.goodbye,
            apology: d.apology,
            idle_prompt: d.idle_prompt,
            end_keywords: d.end_keywords,
            acks: d.acks,
        }
    }
}
