//! The diary: a first-person entry in the caller's language, drawn only from the call.

use haru_providers::{ChatMessage, ChatModel};
use serde::Deserialize;

pub use haru_store::postcall::Diary;

use crate::Result;
use crate::schema;
use crate::transcript::CallContext;

#[derive(Deserialize)]
struct Answer {
    title: String,
    #[serde(deserialize_with = "distinct_paragraphs")]
    paragraphs: Vec<String>,
}

/// A small model under a grammar that asks for more paragraphs than it has things to say
/// loops, writing the same paragraph again (at temperature 0 on every attempt alike): the
/// repeats are dropped rather than the diary, which still says everything once.
fn distinct_paragraphs<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let all = Vec::<String>::deserialize(d)?;
    let mut seen = std::collections::HashSet::new();
    Ok(all
        .into_iter()
        .filter(|p| {
            let key = crate::transcript::normalise(p);
            // Empty paragraphs stay, for validation to name.
            key.is_empty() || seen.insert(key)
        })
        .collect())
}

fn validate(a: &Answer, language: &str) -> Result<(), String> {
    if a.title.trim().is_empty() {
        return Err("title is empty".into());
    }
    let n = a.paragraphs.iter().filter(|p| !p.trim().is_empty()).count();
    if !(1..=6).contains(&n) || n != a.paragraphs.len() {
        return Err(format!(
            "expected 1 to 6 non-empty paragraphs, got {} ({} non-empty)",
            a.paragraphs.len(),
            n
        ));
    }
    // A cheap check that the model kept to the caller's language: Hangul, and hardly any
    // Latin (a name or "TV" may stay; an English sentence may not).
    let all = format!("{} {}", a.title, a.paragraphs.concat());
    if language.starts_with("ko") && !crate::transcript::reads_as_korean(&all) {
        return Err("the diary must be written in Korean, without English".into());
    }
    Ok(())
}

/// What a diary should not do: copy the caller's sentences as they were said (Qwen 1.5B
/// lists them in order), or keep the call's greetings and goodbyes. Korean only, where a
/// diary changes the register ("했어요" becomes "했다"); in English a first-person
/// sentence may rightly be the same.
fn prefer(a: &Answer, caller_sentences: &[String], language: &str) -> Result<(), String> {
    if !language.starts_with("ko") {
        return Ok(());
    }
    for p in &a.paragraphs {
        let para = crate::transcript::normalise(p);
        let copied = caller_sentences.iter().find(|s| {
            let s = crate::transcript::normalise(s);
            s.chars().count() >= 6 && para.contains(&s)
        });
        if let Some(s) = copied {
            return Err(format!(
                "the paragraph `{p}` copies the caller's sentence `{s}`; rewrite it in diary \
                 style ('~했다', '~였다'), without greetings"
            ));
        }
    }
    Ok(())
}

pub async fn compute(ctx: &CallContext, chat: &dyn ChatModel, language: &str) -> Result<Diary> {
    let date = ctx.local_date();
    // No sample sentence in the instructions: a 1.5B model copies it into the diary as if it
    // had been said.
    // Small local models follow instructions in the language they are to write in far
    // better (Qwen 1.5B, told in English to write Korean, mixed English into the diary).
    let instructions = if language.starts_with("ko") {
        format!(
            "하루라는 다정한 말벗과 나눈 전화 통화에서 그분이 한 말을 바탕으로, 그분의 일기를 한국어로 \
             써 주세요. 그분의 입장에서 1인칭('나는')으로, 짧은 제목과 1~6개의 짧은 문단으로 \
             씁니다. 대화 문장을 그대로 옮기지 말고 일기체로 다시 쓰세요: 문장은 '~했다', \
             '~였다', '~있다'로 끝내고, 인사말('안녕하세요', '끊을게요')은 빼고, 오늘 한 일, \
             앞으로 있을 일, 느낀 점을 씁니다. 말할 때의 '~했어요', '~있어요'는 일기에서 \
             '~했다', '~있다'가 됩니다. 통화에서 나온 내용만 쓰고, 없는 일이나 이름, \
             감정은 지어내지 마세요. 날짜는 {date}입니다. 영어를 쓰지 말고 JSON만 답하세요."
        )
    } else {
        format!(
            "You write the caller's diary from what they said in a phone call with Haru, a \
             friendly voice companion. Write in the first person, as the caller, in the language `{language}`. \
             Give it a short title and 1 to 6 short paragraphs. Retell the day in diary \
             style (what I did, what is coming, how I felt); do not copy the transcript's \
             lines. Use only what was said in the call: invent no events, names, feelings or \
             details. The diary is for {date}. Answer with JSON only."
        )
    };
    let messages = vec![
        ChatMessage::system(instructions),
        ChatMessage::user(format!(
            "{}\n{}",
            if language.starts_with("ko") {
                "통화에서 그분이 한 말:"
            } else {
                "What the caller said in the call:"
            },
            ctx.caller_lines_for_prompt(language)
        )),
    ];
    let caller = ctx.sentences(true);
    let a: Answer = schema::ask_preferring(
        chat,
        messages,
        "diary",
        schema::diary(),
        |a: &Answer| validate(a, language),
        |a: &Answer| prefer(a, &caller, language),
    )
    .await?;
    Ok(Diary {
        call_sid: ctx.call_sid.clone(),
        local_date: date.format("%Y-%m-%d").to_string(),
        language: language.to_string(),
        title: a.title.trim().to_string(),
        paragraphs: a.paragraphs.iter().map(|p| p.trim().to_string()).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(title: &str, paragraphs: &[&str]) -> Answer {
        Answer {
            title: title.into(),
            paragraphs: paragraphs.iter().map(|p| p.to_string()).collect(),
        }
    }

    #[test]
    fn a_korean_diary_is_korean() {
        let ok = answer(
            "산책한 날",
            &["아침에 공원을 걸었다.", "내일은 TV를 고치러 간다."],
        );
        assert_eq!(validate(&ok, "ko"), Ok(()));
        // What Qwen 1.5B wrote when told in English: Korean lines, then English ones.
        let mixed = answer(
            "Diary Entry",
            &[
                "오늘 공원에서 산책했다.",
                "Tell me more. Haru, what did you say? I heard that you went to the park.",
            ],
        );
        assert!(validate(&mixed, "ko").is_err());
        assert!(validate(&answer("Walk", &["I walked.", "It was nice."]), "ko").is_err());
        assert_eq!(
            validate(&answer("Walk", &["I walked.", "It was nice."]), "en"),
            Ok(())
        );
        assert_eq!(
            validate(&answer("산책", &["공원을 걸었다."]), "ko"),
            Ok(()),
            "a short call may make one paragraph"
        );
        assert!(
            validate(&answer("산책", &[]), "ko").is_err(),
            "no paragraph"
        );
        assert!(
            validate(&answer("산책", &["공원을 걸었다.", " "]), "ko").is_err(),
            "an empty paragraph"
        );
    }

    #[test]
    fn a_repeated_paragraph_is_dropped_not_the_diary() {
        let a: Answer = serde_json::from_str(
            r#"{"title":"산책","paragraphs":["공원을 걸었다.","공원을 걸었다!","날씨가 좋았다.","공원을 걸었다."]}"#,
        )
        .unwrap();
        assert_eq!(a.paragraphs, vec!["공원을 걸었다.", "날씨가 좋았다."]);
        assert_eq!(validate(&a, "ko"), Ok(()));
    }

    #[test]
    fn a_korean_diary_retells_rather_than_copies() {
        let said = vec![
            "안녕하세요.".to_string(),
            "오늘 아침에 공원에서 산책을 했는데 날씨가 참 좋았어요.".to_string(),
        ];
        let copied = answer(
            "오늘의 일",
            &[
                "안녕하세요. 오늘 아침에 공원에서 산책을 했는데 날씨가 참 좋았어요.",
                "좋았다.",
            ],
        );
        assert!(prefer(&copied, &said, "ko").is_err());
        let retold = answer(
            "산책한 날",
            &[
                "오늘 아침에 공원에서 산책을 했다.",
                "날씨가 참 좋아서 기분이 좋았다.",
            ],
        );
        assert_eq!(prefer(&retold, &said, "ko"), Ok(()));
        // English first person may repeat the caller's own sentence.
        let en = answer("Walk", &["I went to the park.", "It was sunny."]);
        assert_eq!(
            prefer(&en, &["I went to the park.".to_string()], "en"),
            Ok(())
        );
    }
}
