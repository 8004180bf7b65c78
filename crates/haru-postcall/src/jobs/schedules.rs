//! Schedules: every plan, appointment or reminder mentioned, dated in Rust.
//!
//! Reference date: each item is resolved against the local date of the *utterance its
//! quote came from* (its message's `created_at` in the configured timezone), falling
//! back to the call's start. So in a call that crosses midnight, "내일" said at 00:10
//! on the 25th means the 26th, as the speaker meant it. An item whose quote is not in
//! the transcript, or whose date does not resolve, is rejected, never guessed.

use chrono::{DateTime, Utc};
use haru_providers::{ChatMessage, ChatModel};
use serde::{Deserialize, Serialize};

pub use haru_store::postcall::Schedule;

use crate::Result;
use crate::dates::{self, DateExpr};
use crate::schema;
use crate::transcript::{CallContext, find_quote};

/// An item the model proposed that was not saved, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rejected {
    pub title: String,
    pub quote: String,
    pub reason: String,
}

#[derive(Debug, Clone, Default)]
pub struct Extracted {
    pub items: Vec<(Schedule, DateTime<Utc>)>,
    pub rejected: Vec<Rejected>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Item {
    pub title: String,
    pub kind: String,
    pub quote: String,
    pub when: DateExpr,
    pub time: Option<String>,
}

#[derive(Deserialize)]
struct Answer {
    items: Vec<Item>,
}

const KINDS: [&str; 3] = ["plan", "appointment", "reminder"];

/// What a Korean call's model is told (see the diary job: small models follow a Korean
/// prompt far better; told in English, Qwen 1.5B listed greetings as plans).
const KOREAN_INSTRUCTIONS: &str = "이 전화 통화에서 나온 앞으로의 계획, 약속, 예약, 할 일을 \
    모두 찾으세요. 인사나 이미 지난 일은 넣지 않습니다. 각 항목: `title`은 짧은 한국어 \
    제목(예: 치과 예약), `kind`, `quote`는 그 일이 나온 문장 그대로, `when`은 말한 그대로 \
    계산하지 말고: 오늘 0, 내일 1, 모레 2는 `day_offset`; 요일은 `weekday`(영어 소문자)와 \
    `week_offset`(이번 주 0, 다음 주 1, 말하지 않았으면 null); 연도 없는 날짜는 `month`와 \
    `day`; 연도까지 말했을 때만 `date`(YYYY-MM-DD); 나머지는 null. `time`은 말한 시각의 \
    24시간 HH:MM(저녁 7시 → 19:00), 시각을 말하지 않았으면 null. 지어내지 마세요. 없으면 \
    빈 목록. JSON만 답하세요.";

pub async fn compute(ctx: &CallContext, chat: &dyn ChatModel, language: &str) -> Result<Extracted> {
    let instructions = if language.starts_with("ko") {
        KOREAN_INSTRUCTIONS
    } else {
        ENGLISH_INSTRUCTIONS
    };
    let messages = vec![
        ChatMessage::system(instructions),
        ChatMessage::user(format!("Transcript:\n{}", ctx.for_prompt_in(language))),
    ];
    let caller = ctx.sentences(true);
    let a: Answer = schema::ask_preferring(
        chat,
        messages,
        "schedules",
        schema::schedules(&ctx.sentences(false)),
        |_: &Answer| Ok(()),
        |a: &Answer| prefer(ctx, a, &caller),
    )
    .await?;
    Ok(check(ctx, a.items))
}

/// An empty list while the caller named a coming day ("내일", "tomorrow", a weekday) is
/// asked about once more, pointing at that sentence: the small local model sometimes
/// answers `[]` when speech recognition garbled a word of the appointment. Its second
/// answer stands, empty or not, and every item is still checked against the transcript.
fn prefer(
    ctx: &CallContext,
    a: &Answer,
    caller_sentences: &[String],
) -> std::result::Result<(), String> {
    if !a.items.is_empty() {
        // Items that all fail the transcript check are sent back with the reasons once:
        // the model can often mend a wrong date field or a paraphrased quote.
        let checked = check(ctx, a.items.clone());
        if checked.items.is_empty() {
            let why: Vec<String> = checked
                .rejected
                .iter()
                .map(|r| format!("`{}` ({})", r.title, r.reason))
                .collect();
            // Pointing at the sentence that does name a day helps more than the reasons
            // alone (Qwen 1.5B listed "Goodbye!" twice).
            let hint = coming_day(caller_sentences)
                .map(|s| format!("; the caller said `{s}`, which names a coming day"))
                .unwrap_or_default();
            return Err(format!(
                "no item could be kept: {}{hint}; quote the sentence exactly and give `when` as \
                 said",
                why.join(", ")
            ));
        }
        return Ok(());
    }
    match coming_day(caller_sentences) {
        Some(s) => Err(format!(
            "the caller said `{s}`, which names a coming day: if it is a plan, appointment \
             or reminder, list it with that sentence as `quote`; if it is not, answer the \
             empty list again"
        )),
        None => Ok(()),
    }
}

/// The first of the caller's sentences that names a coming day ("내일", "tomorrow", a
/// weekday).
fn coming_day(caller_sentences: &[String]) -> Option<&String> {
    const WEEKDAYS: [&str; 8] = [
        "요일",
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ];
    caller_sentences.iter().find(|s| {
        let l = s.to_lowercase();
        said_offset(&l).is_some_and(|d| d >= 1) || WEEKDAYS.iter().any(|w| l.contains(w))
    })
}

/// What the model is told for any other language.
const ENGLISH_INSTRUCTIONS: &str = "List every plan, appointment or reminder mentioned in this phone call, by the \
             caller or by Haru. For each: a short title in the caller's language; kind; the \
             exact words it came from as `quote` (copied verbatim from one line of the \
             transcript); `when` as said, without doing calendar maths: `day_offset` for \
             relative days (오늘/today 0, 내일/tomorrow 1, 모레 2), or `weekday` (English, \
             lower case) with `week_offset` (이번 주/this week 0, 다음 주/next week 1; null if \
             no week was said), or `month` and `day` when a date was said without a year, or \
             `date` (YYYY-MM-DD) only when the year was said; all other fields null. `time` is \
             the 24-hour HH:MM that was said (저녁 7시 → 19:00), or null when no time was \
             said. Do not invent anything. An empty list is a fine answer. JSON only.";

/// Keeps the items the transcript supports, resolving their dates.
pub(crate) fn check(ctx: &CallContext, items: Vec<Item>) -> Extracted {
    let mut out = Extracted::default();
    for it in items {
        match check_one(ctx, &it) {
            Ok(v) => out.items.push(v),
            Err(reason) => {
                tracing::info!(call_sid = %ctx.call_sid, title = %it.title, %reason, "schedule rejected");
                out.rejected.push(Rejected {
                    title: it.title,
                    quote: it.quote,
                    reason,
                });
            }
        }
    }
    out
}

fn check_one(
    ctx: &CallContext,
    it: &Item,
) -> std::result::Result<(Schedule, DateTime<Utc>), String> {
    if it.title.trim().is_empty() {
        return Err("empty title".into());
    }
    let kind = if KINDS.contains(&it.kind.as_str()) {
        it.kind.as_str()
    } else {
        "plan"
    };
    // Qwen sometimes copies the sentence into `title` ("Reminder: Tomorrow I have …") and
    // quotes another one ("I do."): a sentence of the call that names a time and is in
    // the title is then the evidence.
    let rescued = if names_time(&it.quote) {
        sentence_of_subject(ctx, &it.title, &it.quote)
    } else {
        sentence_in_title(ctx, &it.title).or_else(|| sentence_of_subject(ctx, &it.title, &it.quote))
    };
    let quote = rescued.as_deref().unwrap_or(&it.quote);
    let line = find_quote(&ctx.lines, quote)
        .ok_or_else(|| "quote does not occur in the transcript".to_string())?;
    // The quoted sentence is the best evidence of the day; the whole line, the next.
    let evidence = if said_offset(quote).is_some() {
        quote
    } else {
        line.content.as_str()
    };
    let when = as_said(evidence, &it.when);
    // The quoted words themselves must place it in time: a line can hold a greeting and
    // "오늘" both ("안녕하세요! 오늘 하루는 어떠셨어요?"), and a greeting is no plan.
    said_when(quote, &when).or_else(|e| {
        if line_says_when_of(&line.content, quote) {
            said_when(&line.content, &when)
        } else {
            Err(e)
        }
    })?;
    let reference = dates::local_date(line.created_at.unwrap_or(ctx.started_at), ctx.tz);
    // A small model under the grammar may spell JSON's null as the string "null" (it
    // fits the schema's short string): no time was said.
    let model_time = it
        .time
        .as_deref()
        .filter(|t| !t.trim().eq_ignore_ascii_case("null"));
    // No time from the model, but the quoted words say one ("저녁 7시"): the words win.
    let heard = model_time.is_none().then(|| said_time(quote)).flatten();
    let time = model_time.or(heard.as_deref());
    let r = dates::resolve(&when, time, reference).map_err(|e| e.0)?;
    let until = r
        .until_utc(ctx.tz)
        .ok_or_else(|| "date has no valid local time".to_string())?;
    let s = Schedule {
        id: 0,
        call_sid: ctx.call_sid.clone(),
        title: it.title.trim().to_string(),
        kind: kind.to_string(),
        local_date: r.date.format("%Y-%m-%d").to_string(),
        local_time: r.time.map(|t| t.format("%H:%M").to_string()),
        all_day: r.time.is_none(),
        starts_at: r.starts_at(ctx.tz),
        timezone: ctx.tz.name().to_string(),
        quote: quote.trim().to_string(),
    };
    Ok((s, until))
}

/// The call's sentence that names a time and that `title` holds whole (or that holds a
/// title naming a time): the title was copied from it.
fn sentence_in_title(ctx: &CallContext, title: &str) -> Option<String> {
    let t = crate::transcript::normalise(title);
    ctx.sentences(false).into_iter().find(|s| {
        let n = crate::transcript::normalise(s);
        n.chars().count() >= 8
            && names_time(s)
            && (t.contains(&n) || (t.chars().count() >= 4 && names_time(title) && n.contains(&t)))
    })
}

const KO_HOURS: [(&str, u32); 12] = [
    ("열두", 12),
    ("열한", 11),
    ("열", 10),
    ("아홉", 9),
    ("여덟", 8),
    ("일곱", 7),
    ("여섯", 6),
    ("다섯", 5),
    ("네", 4),
    ("세", 3),
    ("두", 2),
    ("한", 1),
];
const EN_HOURS: [&str; 12] = [
    "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
    "twelve",
];

/// A clock time the words say with its part of the day ("저녁 7시", "오후 세 시 반",
/// "at seven in the evening", "7:30 pm"), as `HH:MM`; `None` when no time is said or the
/// part of the day is not (a bare "7시" may be morning or evening: no guess).
fn said_time(s: &str) -> Option<String> {
    let l = s.to_lowercase();
    let (hour, minute, at) = ko_clock(&l).or_else(|| en_clock(&l))?;
    let before = &l[..at];
    let after = &l[at..];
    let pm = ["오후", "저녁", "밤"].iter().any(|w| before.contains(w))
        || [
            " pm",
            "p.m",
            "in the evening",
            "tonight",
            "in the afternoon",
            "at night",
        ]
        .iter()
        .any(|w| after.contains(w));
    let am = ["오전", "아침", "새벽"].iter().any(|w| before.contains(w))
        || [" am", "a.m", "in the morning"]
            .iter()
            .any(|w| after.contains(w));
    let h = match (pm, am) {
        (true, false) if hour < 12 => hour + 12,
        (true, false) => hour,
        (false, true) if hour == 12 => 0,
        (false, true) => hour,
        _ => return None,
    };
    (h < 24 && minute < 60).then(|| format!("{h:02}:{minute:02}"))
}

/// "7시", "7시 30분", "일곱 시 반": the hour, minutes and where the hour starts.
fn ko_clock(l: &str) -> Option<(u32, u32, usize)> {
    let si = l.find('시')?;
    let head = l[..si].trim_end();
    let digits: String = head
        .chars()
        .rev()
        .take_while(char::is_ascii_digit)
        .collect();
    let (hour, at) = if !digits.is_empty() {
        let d: String = digits.chars().rev().collect();
        (d.parse().ok()?, head.len() - d.len())
    } else {
        let (w, h) = KO_HOURS.iter().find(|(w, _)| head.ends_with(w))?;
        (*h, head.len() - w.len())
    };
    let tail = l[si + '시'.len_utf8()..].trim_start();
    let minute = if tail.starts_with('반') {
        30
    } else {
        let m: String = tail.chars().take_while(char::is_ascii_digit).collect();
        match m.parse::<u32>() {
            Ok(m) if tail[m.to_string().len()..].trim_start().starts_with('분') => m,
            _ => 0,
        }
    };
    (1..=12).contains(&hour).then_some((hour, minute, at))
}

/// "at 7", "7:30", "at seven": the hour, minutes and where the hour starts.
fn en_clock(l: &str) -> Option<(u32, u32, usize)> {
    let words: Vec<(usize, &str)> = l
        .split(|c: char| c.is_whitespace() || c == ',' || c == '.')
        .scan(0usize, |pos, w| {
            let start = l[*pos..].find(w).map(|i| *pos + i).unwrap_or(*pos);
            *pos = start + w.len();
            Some((start, w))
        })
        .filter(|(_, w)| !w.is_empty())
        .collect();
    for (i, (at, w)) in words.iter().enumerate() {
        let clock = w.trim_end_matches("pm").trim_end_matches("am");
        let (h, m) = match clock.split_once(':') {
            Some((h, m)) => (h.parse::<u32>().ok(), m.parse::<u32>().ok()),
            None => (
                clock
                    .parse::<u32>()
                    .ok()
                    .or_else(|| EN_HOURS.iter().position(|n| n == w).map(|p| p as u32 + 1)),
                Some(0),
            ),
        };
        let after_at = i > 0 && words[i - 1].1 == "at";
        if let (Some(h), Some(m)) = (h, m)
            && (1..=12).contains(&h)
            && (after_at || clock.contains(':') || w.ends_with("pm") || w.ends_with("am"))
        {
            return Some((h, m, *at));
        }
    }
    None
}

/// The title's words that name its subject ("치과", "예약", "dentist"): Hangul words of two
/// syllables or more, other words of four letters or more.
fn subject_words(title: &str) -> Vec<String> {
    title
        .split_whitespace()
        .map(crate::transcript::normalise)
        .filter(|w| {
            let hangul = w.chars().any(|c| ('\u{AC00}'..='\u{D7A3}').contains(&c));
            let n = w.chars().count();
            (hangul && n >= 2) || n >= 4
        })
        .collect()
}

/// When the quote (a sentence of the call) names none of the title's subject (Qwen quoted "오늘 아침에 공원에서
/// 산책을 했는데…" for "치과 예약"), the call's sentence that names all of it and a time is
/// the evidence: the date is read from the words the item is about.
fn sentence_of_subject(ctx: &CallContext, title: &str, quote: &str) -> Option<String> {
    let words = subject_words(title);
    let q = crate::transcript::normalise(quote);
    // Only a real sentence quoted for the wrong item: words never said stay rejected.
    if words.is_empty()
        || words.iter().any(|w| q.contains(w.as_str()))
        || find_quote(&ctx.lines, quote).is_none()
    {
        return None;
    }
    ctx.sentences(false).into_iter().find(|s| {
        let n = crate::transcript::normalise(s);
        names_time(s) && words.iter().all(|w| n.contains(w.as_str()))
    })
}

/// A digit or a word of [`TIME_CUES`]: the words place something in time at all.
fn names_time(s: &str) -> bool {
    let l = s.to_lowercase();
    l.chars().any(|c| c.is_ascii_digit()) || TIME_CUES.iter().any(|w| l.contains(w))
}

/// Words that place something in time ("내일", "7시", "monday"): a plan's line says when.
const TIME_CUES: [&str; 38] = [
    "오늘",
    "내일",
    "모레",
    "글피",
    "요일",
    "주말",
    "다음 주",
    "이번 주",
    "다음주",
    "이번주",
    "아침",
    "점심",
    "저녁",
    "밤",
    "오전",
    "오후",
    "새벽",
    "시에",
    "월",
    "이따",
    "today",
    "tonight",
    "tomorrow",
    "weekend",
    "week",
    "morning",
    "afternoon",
    "evening",
    "night",
    "noon",
    "o'clock",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

/// The relative day the line names, when it names exactly one ("내일" → 1); "내일모레"
/// or "not today but tomorrow" name two and decide nothing.
fn said_offset(line: &str) -> Option<i64> {
    let mut l = line.to_lowercase();
    let mut found = Vec::new();
    // Longest first, each removed once counted ("day after tomorrow" is not "tomorrow").
    for (word, offset) in [
        ("day after tomorrow", 2),
        ("모레", 2),
        ("내일", 1),
        ("tomorrow", 1),
        ("오늘", 0),
        ("today", 0),
        ("tonight", 0),
    ] {
        if l.contains(word) {
            l = l.replace(word, " ");
            if !found.contains(&offset) {
                found.push(offset);
            }
        }
    }
    match found[..] {
        [one] => Some(one),
        _ => None,
    }
}

/// The model's date, overruled by the one relative day the line names: the words are the
/// evidence, and a small model confuses 내일 and 모레 or adds a weekday no one said.
fn as_said(line: &str, when: &DateExpr) -> DateExpr {
    let mut w = when.clone();
    let Some(said) = said_offset(line) else {
        return w;
    };
    let l = line.to_lowercase();
    if !names_date(&l) {
        w.date = None;
        w.month = None;
        w.day = None;
    }
    if let Some(day) = &w.weekday
        && !names_weekday(&l, day)
    {
        w.weekday = None;
        w.week_offset = None;
    }
    if w.weekday.is_none() && w.date.is_none() && w.month.is_none() && w.day_offset != Some(said) {
        tracing::info!(model = ?w.day_offset, said, "day taken from the quoted line");
        w.day_offset = Some(said);
    }
    w
}

/// Whether the line's time words can count for `quote`: only when the quote is not a
/// sentence of its own (a model that paraphrased or cut it), so one sentence's "오늘"
/// never dates another sentence.
fn line_says_when_of(line: &str, quote: &str) -> bool {
    let q = crate::transcript::normalise(quote);
    !q.is_empty()
        && !crate::transcript::split_sentences(line)
            .iter()
            .any(|s| crate::transcript::normalise(s) == q)
}

/// `line` (lower case) names a calendar date: "12월 5일", "5일", "the 5th", "december".
fn names_date(line: &str) -> bool {
    const MONTHS: [&str; 12] = [
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ];
    let chars: Vec<char> = line.chars().collect();
    let numbered = chars
        .windows(2)
        .any(|w| w[0].is_ascii_digit() && matches!(w[1], '월' | '일'))
        || ["st", "nd", "rd", "th"].iter().any(|suffix| {
            line.split_whitespace().any(|t| {
                t.strip_suffix(suffix)
                    .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
            })
        });
    numbered || MONTHS.iter().any(|m| line.contains(m))
}

/// `line` (lower case) names `weekday` (English, lower case) in Korean or English.
fn names_weekday(line: &str, weekday: &str) -> bool {
    let ko = match weekday {
        "monday" => "월요일",
        "tuesday" => "화요일",
        "wednesday" => "수요일",
        "thursday" => "목요일",
        "friday" => "금요일",
        "saturday" => "토요일",
        "sunday" => "일요일",
        _ => return false,
    };
    line.contains(ko) || line.contains(weekday)
}

/// The item's date must come from what was said: its line names a time at all, and
/// "tomorrow", "the day after" or the weekday when the model answered with one. (A
/// model that must quote picks *some* sentence; this keeps "안녕하세요!" from becoming an
/// appointment today.)
fn said_when(line: &str, when: &DateExpr) -> std::result::Result<(), String> {
    let l = line.to_lowercase();
    if !names_time(&l) {
        return Err("the quoted line says nothing about when".into());
    }
    // Only the field that decides the date is checked (date, then month/day, then
    // weekday, then day_offset: `dates::resolve`'s order).
    if when.date.is_some() || when.month.is_some() || when.day.is_some() {
        return Ok(());
    }
    let needs: &[&str] = match (&when.weekday, when.day_offset) {
        (Some(_), _) => &[],
        (None, Some(1)) => &["내일", "tomorrow"],
        (None, Some(2)) => &["모레", "day after tomorrow"],
        _ => &[],
    };
    if !needs.is_empty() && !needs.iter().any(|w| l.contains(w)) {
        return Err(format!(
            "day_offset {:?} is not what the line says",
            when.day_offset
        ));
    }
    if let Some(day) = &when.weekday
        && !names_weekday(&l, day)
    {
        return Err(format!("weekday {day} is not what the line says"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn when(day_offset: Option<i64>, weekday: Option<&str>) -> DateExpr {
        DateExpr {
            day_offset,
            weekday: weekday.map(String::from),
            week_offset: None,
            date: None,
            month: None,
            day: None,
        }
    }

    fn ctx(said: &[&str]) -> CallContext {
        CallContext {
            call_sid: "CA1".into(),
            started_at: chrono::Utc::now(),
            ended_at: None,
            tz: chrono_tz::Asia::Seoul,
            lines: said
                .iter()
                .map(|s| crate::transcript::Line {
                    role: haru_store::Role::User,
                    content: s.to_string(),
                    interrupted: false,
                    turn_index: 1,
                    created_at: None,
                })
                .collect(),
            turns: vec![],
        }
    }

    #[test]
    fn a_list_is_questioned_when_empty_after_a_coming_day_or_when_nothing_in_it_holds() {
        let none = Answer { items: Vec::new() };
        let check = |said: &[&str], a: &Answer| {
            let c = ctx(said);
            prefer(&c, a, &c.sentences(true))
        };
        assert!(check(&["내일 차나 7시에 치과 예약이 있어요."], &none).is_err());
        assert!(check(&["I see the doctor on Friday."], &none).is_err());
        assert_eq!(check(&["오늘 산책을 했어요.", "고마워요."], &none), Ok(()));
        let said = ["내일 저녁 7시에 치과 예약이 있어요."];
        let item = |quote: &str| Item {
            title: "치과 예약".into(),
            kind: "appointment".into(),
            quote: quote.into(),
            when: when(Some(1), None),
            time: Some("19:00".into()),
        };
        let kept = Answer {
            items: vec![item("내일 저녁 7시에 치과 예약이 있어요.")],
        };
        assert_eq!(check(&said, &kept), Ok(()));
        let unfounded = Answer {
            items: vec![item("모레 병원에 가요.")],
        };
        let why = check(&said, &unfounded).unwrap_err();
        assert!(why.contains("does not occur"), "{why}");
        assert!(why.contains("names a coming day"), "{why}");
    }

    #[test]
    fn a_sentence_put_in_the_title_is_the_evidence_when_the_quote_names_no_time() {
        let c = ctx(&[
            "I do.",
            "Tomorrow I have an empty supportment at 7.",
            "Okay, goodbye",
        ]);
        let it = |title: &str, quote: &str| Item {
            title: title.into(),
            kind: "appointment".into(),
            quote: quote.into(),
            when: when(Some(1), None),
            time: Some("19:00".into()),
        };
        for title in [
            "Tomorrow I have an empty supportment at 7",
            "Reminder: Tomorrow I have an empty supportment at 7.",
        ] {
            let got = check(&c, vec![it(title, "I do.")]);
            assert_eq!(got.items.len(), 1, "{title}: {:?}", got.rejected);
            assert_eq!(
                got.items[0].0.quote,
                "Tomorrow I have an empty supportment at 7."
            );
        }
        // A title that was never said is no evidence.
        let got = check(&c, vec![it("Dentist tomorrow at 7", "I do.")]);
        assert!(got.items.is_empty());
    }

    #[test]
    fn the_sentence_naming_the_items_subject_dates_it() {
        // What Qwen 1.5B answered once: the right title and time, the wrong quote.
        let c = ctx(&[
            "오늘 아침에 공원에서 산책을 했는데 날씨가 참 좋았어요. 내일 저녁 7시에 치과 예약이 있어요.",
        ]);
        let item = Item {
            title: "치과 예약".into(),
            kind: "appointment".into(),
            quote: "오늘 아침에 공원에서 산책을 했는데 날씨가 참 좋았어요.".into(),
            when: when(Some(0), None),
            time: Some("19:00".into()),
        };
        let got = check(&c, vec![item]);
        assert_eq!(got.items.len(), 1, "{:?}", got.rejected);
        let tomorrow = c.started_at.with_timezone(&c.tz).date_naive() + chrono::Days::new(1);
        assert_eq!(
            got.items[0].0.local_date,
            tomorrow.format("%Y-%m-%d").to_string()
        );
        assert!(got.items[0].0.quote.contains("치과"));
        // A quote that names the subject keeps its own words.
        assert_eq!(
            subject_words("Dentist appointment at 7"),
            ["dentist", "appointment"]
        );
        assert!(
            sentence_of_subject(&c, "치과 예약", "내일 저녁 7시에 치과 예약이 있어요.").is_none()
        );
    }

    #[test]
    fn a_time_the_words_say_fills_the_models_silence() {
        assert_eq!(
            said_time("내일 저녁 7시에 치과 예약이 있어요.").as_deref(),
            Some("19:00")
        );
        assert_eq!(
            said_time("모레 오후 세 시 반에 병원에 가요.").as_deref(),
            Some("15:30")
        );
        assert_eq!(
            said_time("아침 9시 10분에 만나요.").as_deref(),
            Some("09:10")
        );
        assert_eq!(
            said_time("내일 7시에 가요."),
            None,
            "morning or evening: no guess"
        );
        assert_eq!(
            said_time("Tomorrow I have a dentist appointment at seven in the evening.").as_deref(),
            Some("19:00")
        );
        assert_eq!(
            said_time("I see the doctor at 7:30 pm on Friday.").as_deref(),
            Some("19:30")
        );
        assert_eq!(said_time("I have 3 cats."), None);
        assert_eq!(said_time("오늘 산책을 했어요."), None);
        // The model said nothing of the time; the quoted words did.
        let c = ctx(&["내일 저녁 7시에 치과 예약이 있어요."]);
        let item = Item {
            title: "치과 예약".into(),
            kind: "appointment".into(),
            quote: "내일 저녁 7시에 치과 예약이 있어요.".into(),
            when: when(Some(1), None),
            time: None,
        };
        let got = check(&c, vec![item]);
        assert_eq!(got.items.len(), 1, "{:?}", got.rejected);
        assert_eq!(got.items[0].0.local_time.as_deref(), Some("19:00"));
    }

    #[test]
    fn the_lines_relative_day_overrules_the_model() {
        let two = when(Some(2), None);
        let fixed = as_said("내일 저녁 7시에 치과 예약이 있어요.", &two);
        assert_eq!(fixed.day_offset, Some(1));
        assert_eq!(
            as_said("The day after tomorrow I see her.", &when(Some(1), None)).day_offset,
            Some(2)
        );
        // Two days named: the model's choice stands (and must still be said).
        assert_eq!(as_said("오늘 말고 내일 가요", &two).day_offset, Some(2));
        assert_eq!(said_offset("내일모레 가요"), None);
        // A weekday that was said stands; one that was not gives way to the said day.
        let wd = when(None, Some("monday"));
        assert_eq!(as_said("내일 월요일에 가요", &wd), wd);
        let mut both = when(Some(1), Some("monday"));
        both.week_offset = Some(0);
        let fixed = as_said("Tomorrow I have a dentist appointment at 7.", &both);
        assert_eq!(fixed, when(Some(1), None));
        // A date no one said gives way too; one that was said stands.
        let mut dated = when(Some(2), None);
        dated.month = Some(12);
        dated.day = Some(9);
        assert_eq!(
            as_said("내일 저녁 7시에 치과 예약이 있어요.", &dated),
            when(Some(1), None)
        );
        assert_eq!(as_said("내일, 12월 9일에 가요", &dated), dated);
        // Nothing said about the day by the model, "내일" in the line: tomorrow.
        assert_eq!(
            as_said("내일 저녁에 가요", &when(None, None)).day_offset,
            Some(1)
        );
    }

    #[test]
    fn a_greeting_is_not_dated_by_the_sentence_after_it() {
        let line = "안녕하세요! 오늘 하루는 어떠셨어요?";
        assert!(!line_says_when_of(line, "안녕하세요!"));
        // A quote that is not one of the line's sentences may use the line's words.
        assert!(line_says_when_of("내일요? 치과 가요.", "치과"));
        assert!(said_when("안녕하세요!", &when(Some(0), None)).is_err());
    }

    #[test]
    fn a_plans_date_must_be_said() {
        assert!(said_when("내일 저녁 7시에 치과 예약이 있어요.", &when(Some(1), None)).is_ok());
        assert!(said_when("저녁 7시에 약속 있어요", &when(Some(0), None)).is_ok());
        assert!(said_when("다음 주 월요일에 병원에 가요", &when(None, Some("monday"))).is_ok());
        assert!(said_when("Tomorrow at 7 I see the dentist.", &when(Some(1), None)).is_ok());
        // What a model forced to quote picked for a walk it called a plan.
        assert!(said_when("안녕하세요!", &when(Some(0), None)).is_err());
        assert!(said_when("오늘 병원에 가요", &when(Some(1), None)).is_err());
        assert!(said_when("다음 주 화요일에 가요", &when(None, Some("monday"))).is_err());
    }
}
