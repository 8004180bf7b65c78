//! What a call with a known person starts from: a greeting with their name (following up on
//! yesterday when there is something to follow up) and a compact, bounded block of what
//! haru knows of them for the system prompt.

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use haru_store::companion::{DiaryEntry, MemoryItem, MoodEntry, Person, ScheduleItem};

/// What the session needs to know of the person.
#[derive(Debug, Clone, PartialEq)]
pub struct Persona {
    pub person_id: String,
    pub name: String,
    pub language: String,
    pub greeting: String,
    /// Appended to the system prompt; empty when haru knows nothing yet.
    pub memory: String,
}

/// Everything the block is drawn from.
pub struct Known<'a> {
    pub person: &'a Person,
    pub diaries: &'a [DiaryEntry],
    pub schedules: &'a [ScheduleItem],
    pub moods: &'a [MoodEntry],
    pub items: &'a [MemoryItem],
    pub now: DateTime<Utc>,
}

/// A rough token count that errs high: one per Hangul syllable or CJK character, one per
/// four other characters (English words average about that in BPE vocabularies).
pub fn estimate_tokens(s: &str) -> usize {
    let (wide, other) = s.chars().fold((0usize, 0usize), |(w, o), c| {
        if (c as u32) >= 0x1100 {
            (w + 1, o)
        } else {
            (w, o + 1)
        }
    });
    wide + other.div_ceil(4)
}

fn clip(s: &str, max_chars: usize) -> String {
    let s = s.trim();
    if s.chars().count() <= max_chars {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max_chars).collect();
    out.push('…');
    out
}

fn local_date(ts: &str, tz: Tz) -> Option<NaiveDate> {
    DateTime::parse_from_rfc3339(ts)
        .ok()
        .map(|t| t.with_timezone(&tz).date_naive())
}

struct Text {
    header: &'static str,
    name: &'static str,
    diaries: &'static str,
    upcoming: &'static str,
    yesterday_mood: &'static str,
    remember: &'static str,
    guidance: &'static str,
    today: &'static str,
    tomorrow: &'static str,
}

const KO: Text = Text {
    header: "[이 분에 대해 하루가 알고 있는 것 — 다른 사람에게 말하지 마세요]",
    name: "이름",
    diaries: "지난 통화 일기",
    upcoming: "오늘·내일 일정",
    yesterday_mood: "어제 기분",
    remember: "기억해 달라고 하신 것",
    guidance: "이름을 불러 드리고, 어제 이야기나 오늘 일정을 자연스럽게 이어서 물어보세요. 이 내용을 한꺼번에 늘어놓지는 마세요.",
    today: "오늘",
    tomorrow: "내일",
};

const EN: Text = Text {
    header: "[What Haru knows about this person — never share it with anyone else]",
    name: "Name",
    diaries: "Diaries of recent calls",
    upcoming: "Plans for today and tomorrow",
    yesterday_mood: "Mood yesterday",
    remember: "Asked you to remember",
    guidance: "Use their name, and follow up naturally on yesterday or today's plans. Do not recite all of this at once.",
    today: "today",
    tomorrow: "tomorrow",
};

/// The memory block, at most `budget` estimated tokens: the name, plans and what they asked
/// haru to remember come first; older diaries are the first to go.
pub fn memory_block(k: &Known<'_>, budget: usize) -> String {
    let tz: Tz = k.person.timezone.parse().unwrap_or(chrono_tz::Asia::Seoul);
    let t = if k.person.language == "en" { &EN } else { &KO };
    let today = k.now.with_timezone(&tz).date_naive();
    let tomorrow = today.succ_opt().unwrap_or(today);
    let yesterday = today.pred_opt().unwrap_or(today);

    // (priority, line): lower numbers are kept first.
    let mut lines: Vec<(u32, String)> = vec![(0, format!("{}: {}", t.name, k.person.name))];
    let upcoming: Vec<String> = k
        .schedules
        .iter()
        .filter_map(|s| {
            let d = NaiveDate::parse_from_str(&s.local_date, "%Y-%m-%d").ok()?;
            let when = if d == today {
                t.today
            } else if d == tomorrow {
                t.tomorrow
            } else {
                return None;
            };
            let time = s
                .local_time
                .as_deref()
                .map(|x| format!(" {x}"))
                .unwrap_or_default();
            Some(format!("- {when}{time} {}", clip(&s.title, 60)))
        })
        .collect();
    if !upcoming.is_empty() {
        lines.push((1, format!("{}:", t.upcoming)));
        lines.extend(upcoming.into_iter().map(|l| (1, l)));
    }
    if !k.items.is_empty() {
        lines.push((2, format!("{}:", t.remember)));
        // Newest first, so the budget drops the oldest.
        for (i, it) in k.items.iter().rev().enumerate() {
            lines.push((3 + i as u32, format!("- {}", clip(&it.text, 80))));
        }
    }
    if let Some(m) = k.moods.first()
        && local_date(&m.call_started_at, tz) == Some(yesterday)
    {
        lines.push((
            2,
            format!(
                "{}: {} ({})",
                t.yesterday_mood,
                clip(&m.label, 30),
                clip(&m.reason, 80)
            ),
        ));
    }
    if !k.diaries.is_empty() {
        lines.push((20, format!("{}:", t.diaries)));
        for (i, d) in k.diaries.iter().enumerate() {
            let gist = d
                .paragraphs
                .first()
                .map(|p| clip(p, 120))
                .unwrap_or_default();
            lines.push((
                21 + i as u32,
                format!("- {} {}: {gist}", d.local_date, clip(&d.title, 40)),
            ));
        }
    }
    if lines.len() == 1 {
        return String::new();
    }
    let fixed = estimate_tokens(t.header) + estimate_tokens(t.guidance) + 2;
    // Keep lines by priority while they fit, then print them in their original order.
    let mut order: Vec<usize> = (0..lines.len()).collect();
    order.sort_by_key(|&i| (lines[i].0, i));
    let mut keep = vec![false; lines.len()];
    let mut used = fixed;
    for i in order {
        let cost = estimate_tokens(&lines[i].1) + 1;
        if used + cost <= budget || i == 0 {
            keep[i] = true;
            used += cost;
        }
    }
    // A heading with nothing under it goes too.
    for i in 0..lines.len() {
        if keep[i] && lines[i].1.ends_with(':') && !lines.get(i + 1).is_some_and(|_| keep[i + 1]) {
            keep[i] = false;
        }
    }
    let mut out = String::from(t.header);
    for (i, (_, l)) in lines.iter().enumerate() {
        if keep[i] {
            out.push('\n');
            out.push_str(l);
        }
    }
    out.push('\n');
    out.push_str(t.guidance);
    out
}

/// The greeting: their name, and a follow-up on something they mentioned for yesterday.
pub fn greeting(k: &Known<'_>) -> String {
    let tz: Tz = k.person.timezone.parse().unwrap_or(chrono_tz::Asia::Seoul);
    let today = k.now.with_timezone(&tz).date_naive();
    let yesterday = today
        .pred_opt()
        .unwrap_or(today)
        .format("%Y-%m-%d")
        .to_string();
    let followup = k.schedules.iter().rev().find(|s| s.local_date == yesterday);
    let name = &k.person.name;
    match (k.person.language.as_str(), followup) {
        ("en", Some(s)) => format!(
            "Hello {name}, it's Haru. Yesterday you mentioned {}. How did it go?",
            clip(&s.title, 60)
        ),
        ("en", None) => format!("Hello {name}, it's Haru. How has your day been?"),
        (_, Some(s)) => format!(
            "{name}님, 안녕하세요! 하루예요. 어제 말씀하신 {}, 잘 다녀오셨어요?",
            clip(&s.title, 60)
        ),
        (_, None) => format!("{name}님, 안녕하세요! 하루예요. 오늘 하루는 어떠셨어요?"),
    }
}

pub fn persona(k: &Known<'_>, budget: usize) -> Persona {
    Persona {
        person_id: k.person.id.clone(),
        name: k.person.name.clone(),
        language: k.person.language.clone(),
        greeting: greeting(k),
        memory: memory_block(k, budget),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(lang: &str) -> Person {
        Person {
            id: "p_1".into(),
            name: "김영희".into(),
            phone: "+821012345678".into(),
            language: lang.into(),
            timezone: "Asia/Seoul".into(),
            call_times: vec!["10:00".into()],
            window_minutes: 60,
            days: vec![],
            active: true,
            calendar_token: "t".into(),
            plan_since: String::new(),
            caregivers: vec![],
            created_at: String::new(),
            updated_at: String::new(),
        }
    }

    fn schedule(date: &str, title: &str) -> ScheduleItem {
        ScheduleItem {
            id: 1,
            call_sid: "CA1".into(),
            title: title.into(),
            kind: "appointment".into(),
            local_date: date.into(),
            local_time: Some("19:00".into()),
            all_day: false,
            timezone: "Asia/Seoul".into(),
            quote: "q".into(),
            created_at: String::new(),
        }
    }

    fn item(i: i64, text: &str) -> MemoryItem {
        MemoryItem {
            id: i,
            person_id: "p_1".into(),
            text: text.into(),
            quote: None,
            call_sid: None,
            created_at: String::new(),
        }
    }

    // 2026-12-02 10:00 in Seoul.
    fn now() -> DateTime<Utc> {
        "2026-12-02T01:00:00Z".parse().unwrap()
    }

    #[test]
    fn the_greeting_follows_up_on_yesterday() {
        let p = person("ko");
        let s = [schedule("2026-12-01", "치과 예약")];
        let k = Known {
            person: &p,
            diaries: &[],
            schedules: &s,
            moods: &[],
            items: &[],
            now: now(),
        };
        assert_eq!(
            greeting(&k),
            "김영희님, 안녕하세요! 하루예요. 어제 말씀하신 치과 예약, 잘 다녀오셨어요?"
        );
        let k = Known {
            schedules: &[],
            ..k
        };
        assert!(greeting(&k).starts_with("김영희님, 안녕하세요!"));
    }

    #[test]
    fn the_block_holds_todays_plans_and_what_to_remember() {
        let p = person("ko");
        let s = [
            schedule("2026-12-02", "치과 예약"),
            schedule("2026-12-09", "먼 일정"),
        ];
        let items = [item(1, "손녀 이름은 지민")];
        let k = Known {
            person: &p,
            diaries: &[],
            schedules: &s,
            moods: &[],
            items: &items,
            now: now(),
        };
        let b = memory_block(&k, 500);
        assert!(b.contains("이름: 김영희"), "{b}");
        assert!(b.contains("- 오늘 19:00 치과 예약"), "{b}");
        assert!(!b.contains("먼 일정"), "{b}");
        assert!(b.contains("손녀 이름은 지민"), "{b}");
    }

    #[test]
    fn the_budget_drops_old_diaries_first_and_is_kept() {
        let p = person("ko");
        let diaries: Vec<DiaryEntry> = (0..10)
            .map(|i| DiaryEntry {
                call_sid: format!("CA{i}"),
                local_date: format!("2026-11-{:02}", 20 + i),
                title: format!("일기 {i}"),
                paragraphs: vec![
                    "오늘은 시장에 가서 사과를 샀고 이웃과 오래 이야기를 나누었다".repeat(2),
                ],
            })
            .collect();
        let items = [item(1, "손녀 이름은 지민")];
        let k = Known {
            person: &p,
            diaries: &diaries,
            schedules: &[],
            moods: &[],
            items: &items,
            now: now(),
        };
        for budget in [150, 200, 300] {
            let b = memory_block(&k, budget);
            assert!(
                estimate_tokens(&b) <= budget + 2,
                "budget {budget}: {} tokens\n{b}",
                estimate_tokens(&b)
            );
            assert!(b.contains("손녀 이름은 지민"), "{b}");
            if b.contains("일기 1:") {
                assert!(b.contains("일기 0:"), "the newest diary goes last: {b}");
            }
        }
        assert!(!memory_block(&k, 150).contains("일기 9"));
        assert!(memory_block(&k, 2000).contains("일기 9"));
    }

    #[test]
    fn a_stranger_gets_no_block() {
        let p = person("en");
        let k = Known {
            person: &p,
            diaries: &[],
            schedules: &[],
            moods: &[],
            items: &[],
            now: now(),
        };
        assert_eq!(memory_block(&k, 300), "");
        assert_eq!(
            greeting(&k),
            "Hello 김영희, it's Haru. How has your day been?"
        );
    }
}
