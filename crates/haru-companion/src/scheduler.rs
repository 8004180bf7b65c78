//! The durable scheduler: each person's daily call at their local time, once, with retries
//! inside their window, a "missed" record when every try fails, and answering machines
//! handled as configured.
//!
//! Exactly once: a slot row is created once per (person, local date, local time) and claimed
//! by one conditional UPDATE before anyone dials (`haru-store` `call_slots`), so restarts and
//! several instances on one database place one call per slot. A claim whose instance died
//! expires (`ring_lease`) and counts as a failed try.

use chrono::{DateTime, Utc};
use haru_store::CallStore;
use haru_store::companion::{CallSlot, NewSlot, Person, SlotState};
use haru_telephony::rest::{AmdMode, CallOptions, MachineDetection, NewCall as RestCall};
use tracing::{info, warn};

use crate::plan::DailyPlan;
use crate::{Companion, Error, MachinePolicy, Result, parse_ts, ts};

/// How far back a tick looks for slots it has not created yet (a restart after a long
/// outage records the days it missed, up to this).
const LOOKBACK: chrono::Duration = chrono::Duration::hours(36);

fn plan_of(p: &Person) -> Option<DailyPlan> {
    let w = u32::try_from(p.window_minutes).ok()?;
    match DailyPlan::new(&p.timezone, &p.call_times, &p.days, w) {
        Ok(plan) => Some(plan),
        Err(e) => {
            warn!(person = %p.id, error = %e, "the person's call plan is invalid; not scheduling");
            None
        }
    }
}

fn is_machine(answered_by: &str) -> bool {
    answered_by.starts_with("machine") || answered_by == "fax"
}

/// What a call for a person placed.
#[derive(Debug, Clone, PartialEq)]
pub struct Placed {
    pub call_sid: String,
    pub attempt: i64,
}

impl Companion {
    /// One pass of the scheduler at `now`: create the slots that came due, close the ones
    /// whose window passed or whose claim expired, and place every due call.
    pub async fn tick(&self, now: DateTime<Utc>) -> Result<()> {
        let people = self.store.people(true, 100_000, 0).await?;
        for p in &people {
            let Some(plan) = plan_of(p) else { continue };
            // Nothing before the plan existed in its current form: a new time, a resume
            // or a new zone creates no "missed" days in the past.
            let since = parse_ts(&p.plan_since).unwrap_or(now);
            let from = (now - LOOKBACK).max(since);
            for slot in plan.slots_between(from, now + chrono::Duration::milliseconds(1)) {
                let missed = slot.window_end <= now;
                let inserted = self
                    .store
                    .ensure_slot(&NewSlot {
                        person_id: &p.id,
                        local_date: &slot.local_date.format("%Y-%m-%d").to_string(),
                        local_time: &slot.local_time.format("%H:%M").to_string(),
                        due_at: &ts(slot.due),
                        window_end: &ts(slot.window_end),
                        missed,
                    })
                    .await?;
                if inserted && missed {
                    self.check_missed_streak(&p.id).await?;
                }
            }
        }
        for slot in self.store.close_stale_slots(&ts(now)).await? {
            self.check_missed_streak(&slot.person_id).await?;
        }
        for slot in self.store.expired_slots(&ts(now)).await? {
            warn!(slot = slot.id, person = %slot.person_id, "a placed call never reported back; counting it as a failed try");
            self.retry_or_miss(&slot, "no final status", now).await?;
        }
        let lease = ts(now + chrono::Duration::from_std(self.cfg.ring_lease).unwrap_or_default());
        while let Some(slot) = self.store.claim_due_slot(&ts(now), &lease).await? {
            self.place_slot(&slot, now).await?;
        }
        self.check_moods(&people).await?;
        Ok(())
    }

    async fn place_slot(&self, slot: &CallSlot, now: DateTime<Utc>) -> Result<()> {
        let Some(person) = self.store.person(&slot.person_id).await? else {
            return Ok(());
        };
        match self.dial(&person, Some(slot.id), now).await {
            Ok(placed) => {
                info!(person = %person.id, slot = slot.id, call_sid = %placed.call_sid, attempt = placed.attempt, "daily call placed");
                Ok(())
            }
            Err(e) => {
                warn!(person = %person.id, slot = slot.id, error = %e, "could not place the daily call");
                // The try counts: an outage must not turn into a call every tick.
                self.store.record_attempt_failure(slot.id).await?;
                let slot = self
                    .store
                    .slot(slot.id)
                    .await?
                    .unwrap_or_else(|| slot.clone());
                self.retry_or_miss(&slot, &format!("dial failed: {e}"), now)
                    .await
            }
        }
    }

    /// Places a call to the person now (`slot: None` for "call now").
    pub async fn dial(
        &self,
        person: &Person,
        slot: Option<i64>,
        now: DateTime<Utc>,
    ) -> Result<Placed> {
        let Some(d) = &self.dialer else {
            return Err(Error::Unavailable(
                "Twilio is not configured (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_PHONE_NUMBER)".into(),
            ));
        };
        let mode = match self.cfg.machine {
            MachinePolicy::Message => AmdMode::DetectMessageEnd,
            MachinePolicy::HangUp => AmdMode::Enable,
        };
        let options = CallOptions {
            machine_detection: Some(MachineDetection {
                mode,
                status_callback: &d.amd_url,
                timeout_secs: None,
            }),
        };
        let created = d
            .client
            .create_call_with(
                &RestCall {
                    to: &person.phone,
                    from: &d.from,
                    url: &d.voice_url,
                    status_callback: &d.status_url,
                },
                &options,
            )
            .await?;
        // The call is placed: from here a store failure must not look like a failed dial
        // (that would ring the person a second time). The slot stays claimed and its lease
        // decides.
        if let Err(e) = self
            .store
            .upsert_call(&haru_store::NewCall {
                call_sid: created.sid.clone(),
                direction: "outbound-api".into(),
                from_number: Some(d.from.clone()),
                to_number: Some(person.phone.clone()),
                stream_token: None,
                status: created.status.clone(),
            })
            .await
        {
            warn!(call_sid = %created.sid, error = %e, "call placed but not recorded");
        }
        let lease = ts(now + chrono::Duration::from_std(self.cfg.ring_lease).unwrap_or_default());
        let attempt = match self
            .store
            .record_attempt(&person.id, slot, &created.sid, &lease)
            .await
        {
            Ok(a) => a.attempt,
            Err(e) => {
                warn!(call_sid = %created.sid, error = %e, "call placed but its attempt not recorded");
                0
            }
        };
        Ok(Placed {
            call_sid: created.sid,
            attempt,
        })
    }

    /// Another try inside the window, or the day is missed.
    async fn retry_or_miss(&self, slot: &CallSlot, why: &str, now: DateTime<Utc>) -> Result<()> {
        let window_end = parse_ts(&slot.window_end).unwrap_or(now);
        let attempts = u32::try_from(slot.attempts).unwrap_or(u32::MAX);
        match self.cfg.retry.next_try(attempts, now, window_end) {
            Some(at) => {
                self.store
                    .settle_slot(slot.id, SlotState::Waiting, Some(&ts(at)), why)
                    .await?;
            }
            None => {
                if self
                    .store
                    .settle_slot(slot.id, SlotState::Missed, None, why)
                    .await?
                {
                    info!(person = %slot.person_id, slot = slot.id, why, "daily call missed");
                    self.check_missed_streak(&slot.person_id).await?;
                }
            }
        }
        Ok(())
    }

    /// A status callback for a call haru placed for a person.
    pub async fn on_call_status(
        &self,
        call_sid: &str,
        status: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let Some((attempt, slot)) = self.store.attempt_for_call(call_sid).await? else {
            return Ok(());
        };
        self.store
            .update_attempt(call_sid, Some(status), None)
            .await?;
        let Some(slot) = slot else { return Ok(()) };
        match status {
            // Picked up: the day's call is answered (a machine verdict may still follow).
            "in-progress" | "answered" => {
                if attempt.answered_by.as_deref().is_some_and(is_machine) {
                    return Ok(());
                }
                self.store
                    .settle_slot(slot.id, SlotState::Answered, None, "answered")
                    .await?;
            }
            "completed" => {
                self.store
                    .settle_slot(slot.id, SlotState::Answered, None, "answered")
                    .await?;
            }
            "busy" | "no-answer" | "failed" | "canceled" => {
                self.retry_or_miss(&slot, status, now).await?;
            }
            _ => {}
        }
        Ok(())
    }

    /// Twilio's answering-machine verdict: a machine gets one short message or a hang-up.
    pub async fn on_answered_by(&self, call_sid: &str, answered_by: &str) -> Result<()> {
        let Some((_, slot)) = self.store.attempt_for_call(call_sid).await? else {
            return Ok(());
        };
        self.store
            .update_attempt(call_sid, None, Some(answered_by))
            .await?;
        if !is_machine(answered_by) {
            return Ok(());
        }
        if let Some(slot) = &slot {
            // A repeated verdict changes nothing (no second message or hang-up).
            if !self
                .store
                .slot_reached_machine(slot.id, answered_by)
                .await?
            {
                return Ok(());
            }
            self.check_missed_streak(&slot.person_id).await?;
        }
        let Some(d) = &self.dialer else { return Ok(()) };
        let person = match &slot {
            Some(s) => self.store.person(&s.person_id).await?,
            None => self.store.person_for_call(call_sid).await?,
        };
        let lang = person.as_ref().map(|p| p.language.as_str()).unwrap_or("ko");
        let done = match self.cfg.machine {
            MachinePolicy::Message if answered_by != "machine_start" && answered_by != "fax" => {
                let name = person.as_ref().map(|p| p.name.as_str()).unwrap_or("");
                let text = machine_message(lang, name);
                let twiml = haru_telephony::twiml::say_and_hangup_lang(&text, lang);
                d.client.update_twiml(call_sid, &twiml).await.map(|_| ())
            }
            _ => d.client.hang_up(call_sid).await.map(|_| ()),
        };
        if let Err(e) = done {
            warn!(call_sid, error = %e, "could not end the answering-machine call");
        }
        Ok(())
    }

    /// `POST /api/people/{id}/call`: a call now, outside the schedule.
    pub async fn call_now(&self, person_id: &str, now: DateTime<Utc>) -> Result<Option<Placed>> {
        let Some(p) = self.store.person(person_id).await? else {
            return Ok(None);
        };
        self.dial(&p, None, now).await.map(Some)
    }
}

/// The message left on an answering machine.
pub fn machine_message(language: &str, name: &str) -> String {
    if language == "en" {
        format!(
            "Hello {name}, this is Haru, calling to see how you are. I'll call again tomorrow. Take care!"
        )
    } else {
        format!(
            "{name}님, 안녕하세요. 하루예요. 안부 전화 드렸어요. 내일 또 전화드릴게요. 좋은 하루 보내세요."
        )
    }
}
