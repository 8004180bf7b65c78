//! The people list: each person with today's call, their last call, a month of mood,
//! open alerts and the next appointment.

use axum::extract::State;
use chrono::{Duration, Utc};
use chrono_tz::Tz;
use haru_companion::trends::Trends;
use haru_store::companion::{AlertFilter, CallSlot, Person, ScheduleItem, SlotState};
use maud::{Markup, html};

use crate::fmt;
use crate::i18n::Texts;
use crate::layout::{Nav, shell};
use crate::{Ctx, WebError, WebState, charts};

/// Today's daily call of one person.
#[derive(Debug, Clone, PartialEq)]
pub enum Today {
    InProgress(String),
    /// Not yet placed; the local time it is due.
    Scheduled(String),
    Calling,
    Answered,
    Missed,
    Machine,
    Paused,
    None,
}

impl Today {
    pub fn badge(&self, t: &Texts) -> Markup {
        let (class, text) = match self {
            Today::InProgress(_) => ("in-progress", t.state_in_progress.to_string()),
            Today::Scheduled(at) => ("scheduled", format!("{} {at}", t.state_scheduled)),
            Today::Calling => ("calling", t.state_calling.to_string()),
            Today::Answered => ("answered", t.state_answered.to_string()),
            Today::Missed => ("missed", t.state_missed.to_string()),
            Today::Machine => ("machine", t.state_machine.to_string()),
            Today::Paused => ("paused", t.state_paused.to_string()),
            Today::None => ("none", t.state_none.to_string()),
        };
        html! { span class={"badge " (class)} data-state=(class) { (text) } }
    }
}

/// What the list and the person page show about a person.
pub struct Overview {
    pub tz: Tz,
    pub today: Today,
    pub last_call: Option<String>,
    pub trends: Trends,
    pub open_alerts: usize,
    pub next: Option<ScheduleItem>,
}

/// Today's slot decides, a call in progress overrides; without a slot, the plan says
/// whether one is still to come today.
fn today_of(
    p: &Person,
    tz: Tz,
    slots: &[CallSlot],
    live: Option<&str>,
    talked_today: bool,
) -> Today {
    if let Some(sid) = live {
        return Today::InProgress(sid.to_string());
    }
    let now = Utc::now();
    let today = now
        .with_timezone(&tz)
        .date_naive()
        .format("%Y-%m-%d")
        .to_string();
    // They talked with haru today (called in, or a call they answered), whatever the plan
    // says; a dial that rang out or met a machine is the slot's to tell.
    if talked_today {
        return Today::Answered;
    }
    // The latest of today's slots (a person may have several call times).
    if let Some(s) = slots
        .iter()
        .filter(|s| s.local_date == today)
        .max_by_key(|s| &s.local_time)
    {
        return match s.state {
            SlotState::Waiting => Today::Scheduled(s.local_time.clone()),
            SlotState::Dialing | SlotState::Calling => Today::Calling,
            SlotState::Answered => Today::Answered,
            SlotState::Missed => Today::Missed,
            SlotState::Machine => Today::Machine,
        };
    }
    if !p.active {
        return Today::Paused;
    }
    let plan = haru_companion::plan::DailyPlan::new(
        &p.timezone,
        &p.call_times,
        &p.days,
        u32::try_from(p.window_minutes).unwrap_or(60),
    );
    match plan.ok().and_then(|plan| plan.next_slot(now)) {
        Some(s) if s.due.with_timezone(&tz).date_naive() == now.with_timezone(&tz).date_naive() => {
            Today::Scheduled(s.due.with_timezone(&tz).format("%H:%M").to_string())
        }
        _ => Today::None,
    }
}

pub async fn overview(
    st: &WebState,
    p: &Person,
    live: Option<&str>,
    days: i64,
) -> haru_store::Result<Overview> {
    let tz = st.tz_of(Some(&p.timezone));
    let now = Utc::now();
    let to = now.with_timezone(&tz).date_naive();
    let from = to - Duration::days(days - 1);
    let (a, b) = haru_companion::trends::utc_bounds(tz, from, to);
    let calls = st.db.calls_of(&p.id, &fmt::utc(a), &fmt::utc(b)).await?;
    let slots = st
        .db
        .slots_between(
            &p.id,
            &fmt::utc(a - Duration::days(1)),
            &fmt::utc(b + Duration::days(1)),
        )
        .await?;
    let trends = haru_companion::trends::trends(tz, from, to, &calls, &slots);
    let recent = st.db.slots_of(&p.id, 6).await?;
    let open_alerts = st
        .db
        .alerts(&AlertFilter {
            person_id: Some(p.id.clone()),
            open: true,
            limit: 100,
            offset: 0,
        })
        .await?
        .len();
    let next = st
        .db
        .schedules_of(&p.id, Some(&fmt::utc(now)), 1)
        .await?
        .into_iter()
        .next();
    let today = to.format("%Y-%m-%d").to_string();
    let talked_today = calls
        .iter()
        .any(|c| c.user_words > 0 && fmt::local(&c.started_at, tz).starts_with(&today));
    // Older than the chart: the list still says when they last talked.
    let last_call = match calls.last() {
        Some(c) => Some(c.started_at.clone()),
        None => st.db.last_call_of(&p.id).await?,
    };
    Ok(Overview {
        tz,
        today: today_of(p, tz, &recent, live, talked_today),
        last_call,
        trends,
        open_alerts,
        next,
    })
}

pub fn schedule_when(s: &ScheduleItem) -> String {
    match &s.local_time {
        Some(t) if !s.all_day => format!("{} {t}", s.local_date),
        _ => s.local_date.clone(),
    }
}

/// Calls in progress by person, from the store (every instance's calls).
pub async fn live_by_person(st: &WebState) -> haru_store::Result<Vec<(String, String)>> {
    Ok(super::live::live_calls(st)
        .await?
        .into_iter()
        .filter_map(|c| c.person_id.map(|p| (p, c.call_sid)))
        .collect())
}

pub async fn page(State(st): State<WebState>, ctx: Ctx) -> Result<Markup, WebError> {
    let t = ctx.lang.t();
    let err = |e| WebError::store(ctx.lang, e);
    let people = st.db.people(false, 1000, 0).await.map_err(err)?;
    let live = live_by_person(&st).await.map_err(err)?;
    let mut rows = vec![];
    for p in &people {
        let sid = live
            .iter()
            .find(|(pid, _)| *pid == p.id)
            .map(|(_, s)| s.as_str());
        rows.push((p, overview(&st, p, sid, 30).await.map_err(err)?));
    }
    let body = html! {
        h1 { (t.people) }
        @if people.is_empty() {
            p.muted { (t.no_people) }
        } @else {
            table #people {
                thead { tr {
                    th { (t.name) } th { (t.today) } th { (t.last_call) } th { (t.mood_30) }
                    th.num { (t.open_alerts) } th { (t.next_appointment) }
                } }
                tbody {
                    @for (p, o) in &rows {
                        tr data-person=(p.id) {
                            td {
                                a href={"/app/people/" (p.id)} { (p.name) }
                                br; span.muted { (p.phone) }
                            }
                            td { (o.today.badge(t)) }
                            td { @match &o.last_call { Some(ts) => (fmt::local(ts, o.tz)), None => span.muted { "—" } } }
                            td { (charts::sparkline(&o.trends.days, t.mood_30)) }
                            td.num {
                                @if o.open_alerts > 0 {
                                    a.badge.alert href="/app/alerts" { (o.open_alerts) }
                                } @else { span.muted { "0" } }
                            }
                            td { @match &o.next {
                                Some(s) => { (s.title) br; span.muted { (schedule_when(s)) } }
                                None => span.muted { "—" }
                            } }
                        }
                    }
                }
            }
        }
    };
    Ok(shell(
        &ctx,
        st.gate.mode(),
        t.people,
        Some(Nav::People),
        body,
    ))
}
