//! An in-memory [`CallStore`] with the same semantics as SQLite for what a call writes and
//! reads, for tests that run in virtual time (no database, no blocking pool). Writes or
//! reads can be made to fail, to test that failures are reported and lose nothing.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::companion::NewAlert;
use async_trait::async_trait;

use crate::{
    CallFilter, CallRecord, CallStore, Message, NewCall, NewMessage, Result, StatusEvent,
    StoreError, StreamEvent, TurnTiming,
};

#[derive(Default)]
pub struct MemoryStore {
    inner: Mutex<Tables>,
    fail_writes: AtomicBool,
    fail_reads: AtomicBool,
}

#[derive(Default)]
struct Tables {
    calls: Vec<CallRecord>,
    tokens: Vec<(String, String)>,
    status: Vec<StatusEvent>,
    streams: Vec<StreamEvent>,
    messages: Vec<Message>,
    turns: Vec<TurnTiming>,
    holds: std::collections::HashMap<String, Vec<u32>>,
    recordings: std::collections::HashMap<String, Vec<u8>>,
    alerts: Vec<NewAlert>,
}

fn injected() -> StoreError {
    StoreError::Db(sqlx::Error::Protocol("injected failure".into()))
}

impl MemoryStore {
    /// Every message and turn write fails from now on (closing the call still works).
    pub fn fail_writes(&self, on: bool) {
        self.fail_writes.store(on, Ordering::SeqCst);
    }

    /// Every read of messages fails from now on.
    pub fn fail_reads(&self, on: bool) {
        self.fail_reads.store(on, Ordering::SeqCst);
    }

    /// Every alert raised so far, oldest first.
    pub fn alerts(&self) -> Vec<NewAlert> {
        self.tables().alerts.clone()
    }

    fn tables(&self) -> std::sync::MutexGuard<'_, Tables> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn write_guard(&self) -> Result<()> {
        if self.fail_writes.load(Ordering::SeqCst) {
            Err(injected())
        } else {
            Ok(())
        }
    }
}

fn now() -> String {
    crate::ts(chrono::Utc::now())
}

#[async_trait]
impl CallStore for MemoryStore {
    async fn upsert_call(&self, call: &NewCall) -> Result<()> {
        let mut t = self.tables();
        if !t.calls.iter().any(|c| c.call_sid == call.call_sid) {
            t.calls.push(CallRecord {
                call_sid: call.call_sid.clone(),
                direction: call.direction.clone(),
                from_number: call.from_number.clone(),
                to_number: call.to_number.clone(),
                status: call.status.clone().unwrap_or_else(|| "created".into()),
                stream_sid: None,
                started_at: now(),
                ended_at: None,
                end_reason: None,
                transcript: None,
                person_id: None,
            });
        }
        if let Some(token) = &call.stream_token {
            t.tokens.push((call.call_sid.clone(), token.clone()));
        }
        Ok(())
    }

    async fn stream_token(&self, call_sid: &str) -> Result<Option<String>> {
        let t = self.tables();
        Ok(t.tokens
            .iter()
            .rev()
            .find(|(c, _)| c == call_sid)
            .map(|(_, tok)| tok.clone()))
    }

    async fn record_status(&self, event: &StatusEvent) -> Result<()> {
        self.tables().status.push(event.clone());
        Ok(())
    }

    async fn record_stream_event(
        &self,
        call_sid: &str,
        stream_sid: Option<&str>,
        kind: &str,
        detail: Option<&str>,
    ) -> Result<()> {
        self.tables().streams.push(StreamEvent {
            call_sid: call_sid.into(),
            stream_sid: stream_sid.map(str::to_string),
            kind: kind.into(),
            detail: detail.map(str::to_string),
            at: now(),
        });
        Ok(())
    }

    async fn set_stream(&self, call_sid: &str, stream_sid: &str) -> Result<()> {
        let mut t = self.tables();
        if let Some(c) = t.calls.iter_mut().find(|c| c.call_sid == call_sid) {
            c.stream_sid = Some(stream_sid.into());
        }
        Ok(())
    }

    async fn claim_stream(&self, call_sid: &str, stream_sid: &str) -> Result<bool> {
        self.write_guard()?;
        let mut t = self.tables();
        match t.calls.iter_mut().find(|c| c.call_sid == call_sid) {
            Some(c) if c.stream_sid.is_none() && c.ended_at.is_none() => {
                c.stream_sid = Some(stream_sid.into());
                c.status = "in-progress".into();
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn add_message(&self, m: &NewMessage) -> Result<i64> {
        self.write_guard()?;
        let mut t = self.tables();
        let id = t.messages.len() as i64 + 1;
        t.messages.push(Message {
            id,
            call_sid: m.call_sid.clone(),
            turn_index: m.turn_index,
            role: m.role,
            content: m.content.clone(),
            interrupted: m.interrupted,
            created_at: now(),
        });
        Ok(id)
    }

    async fn record_turn(&self, turn: &TurnTiming) -> Result<()> {
        self.write_guard()?;
        let mut t = self.tables();
        t.turns
            .retain(|x| !(x.call_sid == turn.call_sid && x.turn_index == turn.turn_index));
        t.turns.push(turn.clone());
        Ok(())
    }

    async fn close_call(
        &self,
        call_sid: &str,
        reason: &str,
        transcript: Option<&str>,
    ) -> Result<()> {
        let mut t = self.tables();
        if !t.calls.iter().any(|c| c.call_sid == call_sid) {
            t.calls.push(CallRecord {
                call_sid: call_sid.into(),
                direction: "inbound".into(),
                from_number: None,
                to_number: None,
                status: "in-progress".into(),
                stream_sid: None,
                started_at: now(),
                ended_at: None,
                end_reason: None,
                transcript: None,
                person_id: None,
            });
        }
        if let Some(c) = t.calls.iter_mut().find(|c| c.call_sid == call_sid) {
            c.ended_at.get_or_insert_with(now);
            c.end_reason.get_or_insert_with(|| reason.to_string());
            if let Some(tr) = transcript {
                c.transcript = Some(tr.to_string());
            }
            c.status = "completed".into();
        }
        Ok(())
    }

    async fn call(&self, call_sid: &str) -> Result<Option<CallRecord>> {
        Ok(self
            .tables()
            .calls
            .iter()
            .find(|c| c.call_sid == call_sid)
            .cloned())
    }

    async fn list_calls(&self, _filter: &CallFilter) -> Result<Vec<CallRecord>> {
        Ok(self.tables().calls.clone())
    }

    async fn messages(&self, call_sid: &str) -> Result<Vec<Message>> {
        if self.fail_reads.load(Ordering::SeqCst) {
            return Err(injected());
        }
        Ok(self
            .tables()
            .messages
            .iter()
            .filter(|m| m.call_sid == call_sid)
            .cloned()
            .collect())
    }

    async fn turns(&self, call_sid: &str) -> Result<Vec<TurnTiming>> {
        let mut v: Vec<TurnTiming> = self
            .tables()
            .turns
            .iter()
            .filter(|t| t.call_sid == call_sid)
            .cloned()
            .collect();
        v.sort_by_key(|t| t.turn_index);
        Ok(v)
    }

    async fn status_events(&self, call_sid: &str) -> Result<Vec<StatusEvent>> {
        Ok(self
            .tables()
            .status
            .iter()
            .filter(|e| e.call_sid == call_sid)
            .cloned()
            .collect())
    }

    async fn stream_events(&self, call_sid: &str) -> Result<Vec<StreamEvent>> {
        Ok(self
            .tables()
            .streams
            .iter()
            .filter(|e| e.call_sid == call_sid)
            .cloned()
            .collect())
    }

    async fn caller_holds(&self, phone: &str) -> Result<Vec<u32>> {
        Ok(self.tables().holds.get(phone).cloned().unwrap_or_default())
    }

    async fn save_recording(&self, call_sid: &str, wav: &[u8]) -> Result<()> {
        self.write_guard()?;
        self.tables()
            .recordings
            .insert(call_sid.to_string(), wav.to_vec());
        Ok(())
    }

    async fn recording(&self, call_sid: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.tables().recordings.get(call_sid).cloned())
    }

    async fn recording_bytes(&self, call_sid: &str) -> Result<Option<i64>> {
        Ok(self
            .tables()
            .recordings
            .get(call_sid)
            .map(|w| w.len() as i64))
    }

    async fn save_caller_holds(&self, phone: &str, holds: &[u32]) -> Result<()> {
        self.write_guard()?;
        self.tables()
            .holds
            .insert(phone.to_string(), holds.to_vec());
        Ok(())
    }

    async fn close_lost(
        &self,
        call_sid: &str,
        reason: &str,
        transcript: Option<&str>,
    ) -> Result<bool> {
        let open = self
            .tables()
            .calls
            .iter()
            .any(|c| c.call_sid == call_sid && c.ended_at.is_none());
        if open {
            self.close_call(call_sid, reason, transcript).await?;
        }
        Ok(open)
    }

    async fn held_elsewhere(&self, _call_sid: &str) -> Result<bool> {
        // One process, no instances: nothing is held elsewhere.
        Ok(false)
    }

    async fn lost_calls(&self, before: &str) -> Result<Vec<CallRecord>> {
        Ok(self
            .tables()
            .calls
            .iter()
            .filter(|c| {
                c.ended_at.is_none() && c.stream_sid.is_some() && c.started_at.as_str() < before
            })
            .cloned()
            .collect())
    }

    async fn raise_alert(&self, alert: &NewAlert) -> Result<Option<i64>> {
        self.write_guard()?;
        let mut t = self.tables();
        if t.alerts.iter().any(|a| a.dedupe_key == alert.dedupe_key) {
            return Ok(None);
        }
        t.alerts.push(alert.clone());
        Ok(Some(t.alerts.len() as i64))
    }
}
