//! `haru calls` and `haru show CALL_SID`: formatted text from the same store. The main
//! binary owns the command line; it flattens these `Args` into its subcommands.

use std::fmt::Write as _;
use std::str::FromStr;

use anyhow::Context as _;
use chrono_tz::Tz;
use haru_store::{CallFilter, CallRecord, CallStore, Message, Role, SqlStore};

use crate::filters;

/// `haru calls`: list calls, newest first.
#[derive(Debug, Clone, clap::Args)]
pub struct CallsArgs {
    /// Calls started on or after: YYYY-MM-DD (local day) or RFC 3339.
    #[arg(long)]
    pub from: Option<String>,
    /// Calls started up to: YYYY-MM-DD (inclusive local day) or RFC 3339 (exclusive).
    #[arg(long)]
    pub until: Option<String>,
    /// Caller or called number (E.164).
    #[arg(long)]
    pub phone: Option<String>,
    /// Twilio call status, e.g. `completed`.
    #[arg(long)]
    pub status: Option<String>,
    #[arg(long, default_value_t = 20)]
    pub limit: i64,
    #[arg(long, default_value_t = 0)]
    pub offset: i64,
    /// Timezone for local dates.
    #[arg(long, env = "HARU_TIMEZONE", default_value = "Asia/Seoul")]
    pub timezone: String,
}

/// `haru show CALL_SID`: transcript, diary, schedules and mood of one call.
#[derive(Debug, Clone, clap::Args)]
pub struct ShowArgs {
    pub call_sid: String,
    #[arg(long, env = "HARU_TIMEZONE", default_value = "Asia/Seoul")]
    pub timezone: String,
}

fn tz(name: &str) -> anyhow::Result<Tz> {
    Tz::from_str(name).map_err(|_| anyhow::anyhow!("unknown timezone `{name}`"))
}

fn local(ts: &str, tz: Tz) -> String {
    haru_postcall::dates::parse_stored(ts)
        .map(|t| t.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_else(|| ts.to_string())
}

pub async fn list_calls(db_url: &str, args: &CallsArgs) -> anyhow::Result<String> {
    let tz = tz(&args.timezone)?;
    let bound = |name, v: &Option<String>, until| {
        v.as_deref()
            .map(|v| filters::bound(name, v, tz, until))
            .transpose()
            .map_err(anyhow::Error::msg)
    };
    let filter = CallFilter {
        from: bound("from", &args.from, false)?,
        until: bound("until", &args.until, true)?,
        phone: args.phone.clone(),
        status: args.status.clone(),
        limit: filters::limit(Some(args.limit)).map_err(anyhow::Error::msg)?,
        offset: filters::offset(Some(args.offset)).map_err(anyhow::Error::msg)?,
    };
    let store = SqlStore::open(db_url).await.context("opening the store")?;
    let calls = store.list_calls(&filter).await?;
    if calls.is_empty() {
        return Ok("no calls\n".into());
    }
    let mut out = String::new();
    for c in &calls {
        let duration = match (
            haru_postcall::dates::parse_stored(&c.started_at),
            c.ended_at
                .as_deref()
                .and_then(haru_postcall::dates::parse_stored),
        ) {
            (Some(s), Some(e)) => format!("{}s", (e - s).num_seconds()),
            _ => "-".into(),
        };
        let _ = writeln!(
            out,
            "{}  {}  {:<12} {:<16} {:>6}",
            c.call_sid,
            local(&c.started_at, tz),
            c.status,
            c.from_number.as_deref().unwrap_or("-"),
            duration
        );
    }
    Ok(out)
}

/// The transcript as text, one line per message (used by the API too).
pub fn transcript_text(call: &CallRecord, messages: &[Message], tz: Tz) -> String {
    if messages.is_empty() {
        return call.transcript.clone().unwrap_or_default();
    }
    let mut out = String::new();
    for m in messages {
        let who = match m.role {
            Role::User => "Caller",
            Role::Assistant => "Haru",
            Role::Dtmf => "DTMF",
            Role::System => "System",
        };
        let cut = if m.interrupted { " [interrupted]" } else { "" };
        let _ = writeln!(
            out,
            "[{}] {who}: {}{cut}",
            local(&m.created_at, tz),
            m.content
        );
    }
    out
}

pub async fn show(db_url: &str, args: &ShowArgs) -> anyhow::Result<String> {
    let tz = tz(&args.timezone)?;
    let sid = args.call_sid.as_str();
    let store = SqlStore::open(db_url).await.context("opening the store")?;
    let call = store
        .call(sid)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no call {sid}"))?;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Call {sid}  {}  {}  from {}\n",
        local(&call.started_at, tz),
        call.status,
        call.from_number.as_deref().unwrap_or("-")
    );
    out.push_str("== Transcript ==\n");
    out.push_str(&transcript_text(&call, &store.messages(sid).await?, tz));
    out.push_str("\n== Diary ==\n");
    match store.diary(sid).await? {
        Some(d) => {
            let _ = writeln!(out, "{} ({})\n", d.title, d.local_date);
            for p in &d.paragraphs {
                let _ = writeln!(out, "{p}\n");
            }
        }
        None => out.push_str("(none yet)\n\n"),
    }
    out.push_str("== Schedules ==\n");
    let schedules = store.schedules(sid).await?;
    if schedules.is_empty() {
        out.push_str("(none)\n");
    }
    for s in &schedules {
        let _ = writeln!(out, "- {}  {}  \"{}\"", s.starts_at, s.title, s.quote);
    }
    out.push_str("\n== Mood ==\n");
    match store.mood(sid).await? {
        Some(m) => {
            let _ = writeln!(out, "{} ({:+.2}): {}", m.label, m.score, m.reason);
        }
        None => out.push_str("(none yet)\n"),
    }
    Ok(out)
}
