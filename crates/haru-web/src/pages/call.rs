//! One call: the conversation as it was heard, each turn's latency, how it ended, and
//! what came of it (diary, schedules, mood, quality report).

use axum::extract::{Path, State};
use haru_store::{Message, Role, TurnTiming};
use maud::{Markup, html};
use serde_json::Value;

use crate::i18n::Texts;
use crate::layout::{Nav, shell};
use crate::{Ctx, WebError, WebState, fmt};

/// One message as a speech bubble.
pub fn bubble(m: &Message, t: &Texts) -> Markup {
    let (class, who) = match m.role {
        Role::User => ("user", t.caller),
        Role::Assistant => ("assistant", t.haru),
        Role::Dtmf => ("dtmf", "DTMF"),
        Role::System => ("system", "—"),
    };
    html! {
        div class={"msg " (class)} data-msg-id=(m.id) {
            span.who { (who) @if m.interrupted { span.cut { (t.interrupted) } } }
            (m.content)
        }
    }
}

fn turn_row(tt: &TurnTiming, t: &Texts) -> Markup {
    html! {
        tr {
            td.num { (tt.turn_index) }
            td.num { (fmt::ms(tt.first_audio_ms)) }
            td.num { (fmt::ms(tt.stt_ms)) }
            td.num { (fmt::ms(tt.llm_first_token_ms)) }
            td.num { (fmt::ms(tt.tts_first_byte_ms)) }
            td { (tt.outcome) @if let Some(e) = &tt.error { br; span.error { (e) } } }
            td { @if tt.barge_in { span.badge.missed { (t.barge_in) } } }
        }
    }
}

/// A JSON report as nested facts (the quality report's shape may grow).
fn facts(v: &Value) -> Markup {
    match v {
        Value::Object(m) => html! {
            dl.facts { @for (k, v) in m { dt { (k) } dd { (facts(v)) } } }
        },
        Value::Array(a) => html! {
            ul.plain { @for v in a { li { (facts(v)) } } }
        },
        Value::String(s) => html! { (s) },
        Value::Null => html! { "—" },
        other => html! { (other.to_string()) },
    }
}

pub async fn page(
    State(st): State<WebState>,
    ctx: Ctx,
    Path(sid): Path<String>,
) -> Result<Markup, WebError> {
    let t = ctx.lang.t();
    let err = |e| WebError::store(ctx.lang, e);
    let call = st
        .store
        .call(&sid)
        .await
        .map_err(err)?
        .ok_or_else(|| WebError::not_found(ctx.lang))?;
    let person = match &call.person_id {
        Some(id) => st.db.person(id).await.map_err(err)?,
        None => None,
    };
    let tz = st.tz_of(person.as_ref().map(|p| p.timezone.as_str()));
    let messages = st.store.messages(&sid).await.map_err(err)?;
    let turns = st.store.turns(&sid).await.map_err(err)?;
    let pc_err = |e: haru_postcall::Error| WebError::store(ctx.lang, e);
    let diary = st.postcall.diary(&sid).await.map_err(pc_err)?;
    let schedules = st.postcall.schedules(&sid).await.map_err(pc_err)?;
    let mood = st.postcall.mood(&sid).await.map_err(pc_err)?;
    let quality: Option<Value> = st
        .db
        .quality_json(&sid)
        .await
        .map_err(err)?
        .and_then(|j| serde_json::from_str(&j).ok());
    let recorded = st.store.recording_bytes(&sid).await.map_err(err)?;
    let barge_ins = turns.iter().filter(|t| t.barge_in).count();
    let live = call.ended_at.is_none();
    let title = format!("{} · {}", t.calls, fmt::local(&call.started_at, tz));
    let body = html! {
        h1 { (t.calls) " · " (fmt::local(&call.started_at, tz))
             @if live { " " span.badge.in-progress { (t.state_in_progress) } } }
        section.card {
            dl.facts {
                @if let Some(p) = &person {
                    dt { (t.person) } dd { a href={"/app/people/" (p.id)} { (p.name) } }
                }
                dt { (t.direction) } dd { (call.direction) }
                dt { (t.phone) } dd { (call.from_number.as_deref().unwrap_or("—")) " → " (call.to_number.as_deref().unwrap_or("—")) }
                dt { (t.status) } dd { (call.status) }
                dt { (t.started) } dd { (fmt::local(&call.started_at, tz)) }
                dt { (t.ended) } dd {
                    @match &call.ended_at { Some(e) => { (fmt::local(e, tz)) @if let Some(d) = fmt::duration(&call.started_at, Some(e)) { " (" (d) ")" } } None => "—" }
                }
                dt { (t.end_reason) } dd #end-reason { (call.end_reason.as_deref().unwrap_or("—")) }
                dt { (t.barge_in) } dd { (barge_ins) }
                dt { "SID" } dd { code { (call.call_sid) } }
            }
        }
        @if let Some(bytes) = recorded {
            section.card #recording {
                h2 { (t.recording) }
                audio controls preload="metadata" src={"/app/calls/" (call.call_sid) "/audio.wav"} {}
                p.muted { (t.recording_hint) " · " (bytes / 1024) " KiB" }
            }
        }
        section.card #transcript {
            h2 { (t.transcript) }
            @if messages.is_empty() { p.muted { (t.no_transcript) } }
            div.conversation { @for m in &messages { (bubble(m, t)) } }
        }
        @if !turns.is_empty() {
            section.card #turns {
                h2 { (t.turns) }
                table {
                    thead { tr {
                        th.num { (t.turn) } th.num { (t.first_audio) } th.num { "STT" }
                        th.num { "LLM" } th.num { "TTS" } th { (t.outcome) } th { (t.barge_in) }
                    } }
                    tbody { @for tt in &turns { (turn_row(tt, t)) } }
                }
            }
        }
        div.grid {
            section.card #diary {
                h2 { (t.diary) }
                @match &diary {
                    Some(d) => article.diary lang=(d.language) {
                        h3 { (d.title) }
                        @for p in &d.paragraphs { p { (p) } }
                    },
                    None => p.muted { (t.none_yet) },
                }
            }
            section.card #mood {
                h2 { (t.mood) }
                @match &mood {
                    Some(m) => {
                        p { strong { (m.label) } " " (format!("{:+.2}", m.score)) }
                        p { (m.reason) }
                        @for q in &m.quotes { blockquote { (q) } }
                    },
                    None => p.muted { (t.none_yet) },
                }
            }
            section.card #schedules {
                h2 { (t.schedules) }
                @if schedules.is_empty() { p.muted { (t.none_yet) } }
                ul.plain {
                    @for s in &schedules {
                        li { strong { (s.starts_at) } " " (s.title) " " span.muted { "(" (s.kind) ")" }
                             blockquote { (s.quote) } }
                    }
                }
            }
            section.card #quality {
                h2 { (t.quality) }
                @match &quality { Some(q) => (facts(q)), None => p.muted { (t.none_yet) } }
            }
        }
    };
    Ok(shell(&ctx, st.gate.mode(), &title, Some(Nav::Calls), body))
}

/// The call's recording (both sides, stereo WAV), for the page's player.
pub async fn audio(
    State(st): State<WebState>,
    ctx: Ctx,
    Path(sid): Path<String>,
) -> Result<axum::response::Response, WebError> {
    use axum::response::IntoResponse;
    let wav = st
        .store
        .recording(&sid)
        .await
        .map_err(|e| WebError::store(ctx.lang, e))?
        .ok_or_else(|| WebError::not_found(ctx.lang))?;
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, "audio/wav"),
            (axum::http::header::CACHE_CONTROL, "private, no-store"),
        ],
        wav,
    )
        .into_response())
}
