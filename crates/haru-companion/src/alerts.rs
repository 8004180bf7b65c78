//! Alerts raised after calls: a run of very negative moods, or of missed daily calls. (The
//! words said *in* a call are caught by the session itself, `haru_session::safety`.)
//! Each run raises one alert: its dedupe key names the run's first call or slot.

use haru_store::CallStore;
use haru_store::companion::{Person, SlotState};
use haru_store::{AlertKind, Evidence, NewAlert};
use tracing::info;

use crate::{Companion, Result};

/// `last_result` of a slot dropped because the person was paused (`haru-store`).
const PAUSED: &str = "paused";

impl Companion {
    /// `missed_calls` daily calls in a row unanswered (a machine counts) → one alert.
    pub(crate) async fn check_missed_streak(&self, person_id: &str) -> Result<()> {
        let n = self.cfg.missed_calls;
        if n == 0 {
            return Ok(());
        }
        let slots = self.store.slots_of(person_id, 200).await?;
        // Days the person was paused are not missed calls.
        let decided: Vec<_> = slots
            .iter()
            .filter(|s| s.state.is_final() && s.last_result.as_deref() != Some(PAUSED))
            .collect();
        let run: Vec<_> = decided
            .iter()
            .take_while(|s| matches!(s.state, SlotState::Missed | SlotState::Machine))
            .collect();
        if run.len() < n {
            return Ok(());
        }
        // The run's first slot names the alert: one alert per run, however long it gets.
        let Some(first) = run.last() else {
            return Ok(());
        };
        let evidence = run
            .iter()
            .rev()
            .map(|s| Evidence {
                quote: format!(
                    "{} {}: {}",
                    s.local_date,
                    s.local_time,
                    s.last_result.as_deref().unwrap_or(s.state.as_str())
                ),
                call_sid: None,
                at: s.due_at.clone(),
            })
            .collect();
        let raised = self
            .store
            .raise_alert(&NewAlert {
                person_id: Some(person_id.to_string()),
                call_sid: None,
                kind: AlertKind::MissedCalls,
                dedupe_key: format!("missed:{person_id}:{}", first.id),
                summary: format!("{} daily calls in a row were not answered", run.len()),
                evidence,
            })
            .await?;
        if let Some(id) = raised {
            info!(person = person_id, alert = id, "alert: missed daily calls");
        }
        Ok(())
    }

    /// `low_mood_calls` calls in a row with a very negative mood → one alert.
    pub(crate) async fn check_moods(&self, people: &[Person]) -> Result<()> {
        let n = self.cfg.low_mood_calls;
        if n == 0 {
            return Ok(());
        }
        for p in people {
            let moods = self.store.moods_of(&p.id, 50).await?;
            let run: Vec<_> = moods
                .iter()
                .take_while(|m| m.score <= self.cfg.low_mood_score)
                .collect();
            if run.len() < n {
                continue;
            }
            let Some(first) = run.last() else { continue };
            let evidence = run
                .iter()
                .rev()
                .map(|m| Evidence {
                    quote: format!("{} ({:+.2}): {}", m.label, m.score, m.reason),
                    call_sid: Some(m.call_sid.clone()),
                    at: m.call_started_at.clone(),
                })
                .collect();
            let raised = self
                .store
                .raise_alert(&NewAlert {
                    person_id: Some(p.id.clone()),
                    call_sid: None,
                    kind: AlertKind::LowMood,
                    dedupe_key: format!("low_mood:{}:{}", p.id, first.call_sid),
                    summary: format!("A very negative mood on {} calls in a row", run.len()),
                    evidence,
                })
                .await?;
            if let Some(id) = raised {
                info!(person = %p.id, alert = id, "alert: low mood");
            }
        }
        Ok(())
    }
}
