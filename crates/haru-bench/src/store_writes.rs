//! `haru bench --store-writes N`: what a call's turn costs the database. Each turn is the
//! writes a session makes for one exchange (the caller's message, haru's message, the
//! turn's timings), awaited one after another as the call's store writer does, on the
//! backend `HARU_BENCH_DATABASE_URL` names (else a fresh SQLite file).

use std::time::Instant;

use anyhow::{Context, Result};
use haru_store::{CallStore, NewCall, NewMessage, Role, TurnTiming};
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct StoreWritesReport {
    pub backend: String,
    pub turns: usize,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub mean_ms: f64,
}

impl StoreWritesReport {
    pub fn table(&self) -> String {
        format!(
            "store writes per turn ({}, {} turns: 2 messages + 1 turn timing, sequential)\n  p50 {:.2} ms   p95 {:.2} ms   mean {:.2} ms",
            self.backend, self.turns, self.p50_ms, self.p95_ms, self.mean_ms
        )
    }
}

pub async fn run(turns: usize) -> Result<StoreWritesReport> {
    let url = std::env::var("HARU_BENCH_DATABASE_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| {
            let p =
                std::env::temp_dir().join(format!("haru-store-writes-{}.db", std::process::id()));
            let _ = std::fs::remove_file(&p);
            format!("sqlite:{}", p.display())
        });
    let store = haru_store::SqlStore::open(&url)
        .await
        .with_context(|| format!("cannot open {}", haru_store::redact_url(&url)))?;
    let sid = format!("CA{:032x}", uuid::Uuid::new_v4().as_u128());
    store
        .upsert_call(&NewCall {
            call_sid: sid.clone(),
            direction: "inbound".into(),
            from_number: Some("+821012345678".into()),
            ..Default::default()
        })
        .await?;
    let mut ms = Vec::with_capacity(turns);
    for i in 0..turns as i64 {
        let t = Instant::now();
        for (role, text) in [
            (Role::User, "오늘 아침에 공원을 한 바퀴 걸었어요."),
            (Role::Assistant, "좋네요! 날씨는 어땠어요?"),
        ] {
            store
                .add_message(&NewMessage {
                    call_sid: sid.clone(),
                    turn_index: i + 1,
                    role,
                    content: text.into(),
                    interrupted: false,
                })
                .await?;
        }
        store
            .record_turn(&TurnTiming {
                call_sid: sid.clone(),
                turn_index: i + 1,
                stt_ms: Some(150),
                first_audio_ms: Some(700),
                outcome: "answered".into(),
                ..Default::default()
            })
            .await?;
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let mean = ms.iter().sum::<f64>() / ms.len().max(1) as f64;
    ms.sort_by(f64::total_cmp);
    let pick = |p: f64| {
        ms.get(((ms.len() as f64 * p).ceil() as usize).saturating_sub(1))
            .copied()
            .unwrap_or(0.0)
    };
    Ok(StoreWritesReport {
        backend: store.backend().name().into(),
        turns,
        p50_ms: pick(0.5),
        p95_ms: pick(0.95),
        mean_ms: mean,
    })
}
