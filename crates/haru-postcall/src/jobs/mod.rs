//! One module per job kind: compute from the stored call, then save the result and
//! mark the job done in one transaction (memory: see [`run`]).

pub mod diary;
pub mod memory;
pub mod mood;
pub mod quality;
pub mod schedules;

use chrono::Utc;

use haru_store::postcall::{JobResult, NewSchedule};

use crate::queue::{Claim, JobKind, ts};
use crate::transcript::CallContext;
use crate::{Error, PostCall, Result};

/// A computed result, waiting to be written.
enum Output {
    Nothing,
    Diary(diary::Diary),
    Schedules(schedules::Extracted),
    Mood(mood::Mood),
    Quality(quality::Quality),
    Memory(memory::Outcome),
}

async fn compute(pc: &PostCall, ctx: &CallContext, kind: JobKind) -> Result<Output> {
    let cfg = pc.config();
    let chat = pc.chat();
    Ok(match kind {
        // Nothing was said: nothing to write, and no reason to bother the model.
        JobKind::Diary | JobKind::Mood if ctx.is_empty() => Output::Nothing,
        JobKind::Schedules if ctx.is_empty() => Output::Schedules(schedules::Extracted::default()),
        JobKind::Diary => Output::Diary(diary::compute(ctx, chat, &cfg.language).await?),
        JobKind::Schedules => {
            Output::Schedules(schedules::compute(ctx, chat, &cfg.language).await?)
        }
        JobKind::Mood => Output::Mood(mood::compute(ctx, chat, &cfg.language).await?),
        JobKind::Quality => Output::Quality(quality::compute(ctx)),
        JobKind::Memory => Output::Memory(memory::compute(pc.store(), ctx, chat).await?),
    })
}

/// Runs a claimed job to completion; returns its summary.
pub async fn run(pc: &PostCall, claim: &Claim) -> Result<String> {
    let store = pc.store();
    let ctx = CallContext::load(store, &claim.job.call_sid, pc.config().timezone).await?;
    // The transaction starts only after the slow LLM work, so no connection is held
    // (and no lock taken) while waiting for the model.
    let out = compute(pc, &ctx, claim.job.kind).await?;
    if let Output::Memory(memory::Outcome::Update(u)) = &out
        && !u.is_empty()
    {
        // `update_memory` commits its own transaction, so it cannot join the one that
        // checks the lease: check (and renew) the lease just before it instead, so a
        // worker that lost the job writes nothing. A loss in the moment between is
        // harmless: the run that took over sees these items as known (and drops them
        // as duplicates) and the forgotten ones as gone.
        if !store
            .heartbeat_job(claim, pc.config().lease, Utc::now())
            .await?
        {
            return Err(Error::LeaseLost);
        }
        memory::save(store, &ctx.call_sid, u).await?;
    }
    let (result, detail) = match out {
        Output::Nothing => (JobResult::Nothing, "no conversation".to_string()),
        Output::Diary(d) => {
            let detail = format!("diary `{}` for {}", d.title, d.local_date);
            (JobResult::Diary(d), detail)
        }
        Output::Schedules(e) => {
            let mut detail = format!("{} saved", e.items.len());
            for r in &e.rejected {
                detail.push_str(&format!("; rejected `{}`: {}", r.title, r.reason));
            }
            let items = e
                .items
                .into_iter()
                .map(|(schedule, until)| NewSchedule {
                    schedule,
                    until_utc: ts(until),
                })
                .collect();
            let call_sid = ctx.call_sid.clone();
            (JobResult::Schedules { call_sid, items }, detail)
        }
        Output::Mood(m) => {
            let detail = format!("{} ({:+.2})", m.label, m.score);
            (JobResult::Mood(m), detail)
        }
        Output::Quality(q) => {
            let detail = format!("{} turns, p50 {:?} ms", q.turns, q.first_audio_p50_ms);
            let report_json = serde_json::to_string(&q).unwrap_or_else(|_| "{}".into());
            let call_sid = q.call_sid;
            (
                JobResult::Quality {
                    call_sid,
                    report_json,
                },
                detail,
            )
        }
        Output::Memory(memory::Outcome::NoPerson) => {
            (JobResult::Nothing, "no person: nothing to remember".into())
        }
        Output::Memory(memory::Outcome::Update(u)) => (JobResult::Nothing, u.summary()),
    };
    if !store
        .complete_job(claim, &result, &detail, Utc::now())
        .await?
    {
        return Err(Error::LeaseLost);
    }
    Ok(detail)
}
