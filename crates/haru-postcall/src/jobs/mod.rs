//! One module per job kind: compute from the stored call, then save the result and
//! mark the job done in one transaction.

pub mod diary;
pub mod mood;
pub mod quality;
pub mod schedules;

use chrono::Utc;

use crate::queue::{self, Claim, JobKind, ts};
use crate::transcript::CallContext;
use crate::{Error, PostCall, Result};

/// Runs a claimed job to completion; returns its summary.
pub async fn run(pc: &PostCall, claim: &Claim) -> Result<String> {
    let cfg = pc.config();
    let ctx = CallContext::load(pc.pool(), &claim.job.call_sid, cfg.timezone).await?;
    let chat = pc.chat();
    let now = Utc::now();
    let now_s = ts(now);
    let mut tx = pc.pool().begin().await?;
    let detail = match claim.job.kind {
        // Nothing was said: nothing to write, and no reason to bother the model.
        JobKind::Diary | JobKind::Mood if ctx.is_empty() => "no conversation".to_string(),
        JobKind::Diary => {
            let d = diary::compute(&ctx, chat, &cfg.language).await?;
            diary::save(&mut tx, &d, &now_s).await?;
            format!("diary `{}` for {}", d.title, d.local_date)
        }
        JobKind::Schedules => {
            let e = if ctx.is_empty() {
                schedules::Extracted::default()
            } else {
                schedules::compute(&ctx, chat).await?
            };
            schedules::save(&mut tx, &ctx.call_sid, &e, &now_s).await?;
            let mut s = format!("{} saved", e.items.len());
            for r in &e.rejected {
                s.push_str(&format!("; rejected `{}`: {}", r.title, r.reason));
            }
            s
        }
        JobKind::Mood => {
            let m = mood::compute(&ctx, chat, &cfg.language).await?;
            mood::save(&mut tx, &m, &now_s).await?;
            format!("{} ({:+.2})", m.label, m.score)
        }
        JobKind::Quality => {
            let q = quality::compute(&ctx);
            quality::save(&mut tx, &q, &now_s).await?;
            format!("{} turns, p50 {:?} ms", q.turns, q.first_audio_p50_ms)
        }
    };
    if !queue::complete(&mut tx, claim, &detail, Utc::now()).await? {
        tx.rollback().await?;
        return Err(Error::LeaseLost);
    }
    tx.commit().await?;
    Ok(detail)
}
