//! One call, end to end: voice webhook, TwiML, then the media stream until hang-up.
//!
//! The whole call runs on the caller's task: a single `select!` over the 20 ms frame clock
//! and the WebSocket, so nothing outlives the call and no locking is needed.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use futures::{SinkExt, StreamExt};
use haru_audio::{FRAME_SAMPLES, mulaw};
use haru_telephony::media::{Dtmf, MarkBody, MediaFormat, MediaIn, Start, StopBody};
use haru_telephony::{Inbound, Outbound};
use tokio::sync::mpsc::UnboundedSender;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_tungstenite::tungstenite::Message;

use crate::config::SimConfig;
use crate::playout::Playout;
use crate::report::{CallEnd, ReplyStats, SimEvent, SimReport, TurnReport};
use crate::twiml::StreamTarget;
use crate::webhook::{Ids, answer, fetch_transcript, random_sid};

const FRAME_MS: f64 = 20.0;
const SAMPLES_PER_MS: u64 = 8;

/// Places one simulated call and returns what it measured.
///
/// `events`, when given, receives a [`SimEvent`] for everything noteworthy as it happens;
/// the sender is dropped when the call ends, so a receiver loop terminates by itself.
pub async fn run_call(
    cfg: SimConfig,
    events: Option<UnboundedSender<SimEvent>>,
) -> Result<SimReport> {
    cfg.validate()?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .build()
        .context("cannot build an HTTP client")?;
    let ids = Ids {
        call_sid: cfg.call_sid.clone().unwrap_or_else(|| random_sid("CA")),
        account_sid: cfg.account_sid.clone().unwrap_or_else(|| random_sid("AC")),
        stream_sid: random_sid("MZ"),
    };
    let target = answer(&http, &cfg, &ids).await?;
    // No Nagle: 20 ms frames must leave now, not when a delayed ACK comes back.
    let connect = tokio_tungstenite::connect_async_with_config(target.url.as_str(), None, true);
    let (ws, _) = tokio::time::timeout(Duration::from_secs(10), connect)
        .await
        .map_err(|_| anyhow!("timed out opening the media stream at {}", target.url))?
        .with_context(|| format!("cannot open the media stream at {}", target.url))?;
    let server = cfg.server.clone();
    let call = Call::new(cfg, ids, target, events);
    let mut report = call.run(ws).await;
    report.transcript = fetch_transcript(&http, &server, &report.call_sid).await;
    Ok(report)
}

/// Where the call is in the caller's script.
#[derive(Debug, Clone, Copy)]
enum Phase {
    /// Listening to the current reply; `next` is the turn that follows it, if any.
    Listening { next: Option<usize> },
    /// Quiet pause after a reply, then `next`.
    Gap { next: Option<usize>, until: f64 },
    /// Sending turn `turn`'s audio; `pos` samples sent so far.
    Speaking {
        turn: usize,
        pos: usize,
        voiced_end: usize,
    },
    /// Script done: hang up.
    Done,
}

/// Bookkeeping for one reply slot (0 = greeting, k + 1 = reply to turn k).
#[derive(Default)]
struct Slot {
    stats: ReplyStats,
    bytes: u64,
    /// Call time latency is measured from (end of speech; stream start for the greeting).
    reference: f64,
    first_audio: Option<f64>,
    finished: bool,
}

struct Call {
    cfg: SimConfig,
    ids: Ids,
    target: StreamTarget,
    events: Option<UnboundedSender<SimEvent>>,
    started: Instant,
    seq: u64,
    chunk: u64,
    playout: Playout,
    slots: Vec<Slot>,
    current: usize,
    barged: Vec<bool>,
    phase: Phase,
    /// Call time of the last bot audio received or played.
    last_activity: f64,
    bytes_total: u64,
    marks_total: u32,
    clears_total: u32,
    malformed: u32,
}

/// Why sending failed: the peer is gone.
struct Gone;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;
type Sink = futures::stream::SplitSink<Ws, Message>;
type Source = futures::stream::SplitStream<Ws>;

impl Call {
    fn new(
        cfg: SimConfig,
        ids: Ids,
        target: StreamTarget,
        events: Option<UnboundedSender<SimEvent>>,
    ) -> Self {
        let turns = cfg.turns.len();
        Call {
            cfg,
            ids,
            target,
            events,
            started: Instant::now(),
            seq: 0,
            chunk: 0,
            playout: Playout::new(),
            slots: (0..=turns).map(|_| Slot::default()).collect(),
            current: 0,
            barged: vec![false; turns],
            phase: Phase::Listening { next: Some(0) },
            last_activity: 0.0,
            bytes_total: 0,
            marks_total: 0,
            clears_total: 0,
            malformed: 0,
        }
    }

    /// Call time in ms: wall time since the stream opened, times the speed factor.
    fn now(&self) -> f64 {
        self.started.elapsed().as_secs_f64() * 1000.0 * self.cfg.speed
    }

    fn emit(&self, ev: SimEvent) {
        tracing::debug!("{ev}");
        if let Some(tx) = &self.events {
            let _ = tx.send(ev);
        }
    }

    async fn run(mut self, ws: Ws) -> SimReport {
        let (mut sink, mut stream) = ws.split();
        self.started = Instant::now();
        self.emit(SimEvent::Connected {
            call_sid: self.ids.call_sid.clone(),
            stream_sid: self.ids.stream_sid.clone(),
            stream_url: self.target.url.clone(),
        });
        let outcome = self.converse(&mut sink, &mut stream).await;
        // The call is over when the script ends or the server leaves, not after the close
        // handshake below.
        let at_ms = self.now() as u64;
        let ended = match outcome {
            Ok(()) => {
                let stop = Inbound::Stop {
                    sequence_number: Some(self.next_seq()),
                    stop: Some(StopBody {
                        account_sid: Some(self.ids.account_sid.clone()),
                        call_sid: Some(self.ids.call_sid.clone()),
                    }),
                    stream_sid: self.ids.stream_sid.clone(),
                };
                if send(&mut sink, &stop).await.is_ok() {
                    let _ = sink.send(Message::Close(None)).await;
                    // Keep reading so the close handshake completes; do not wait forever.
                    let drain = async { while stream.next().await.is_some() {} };
                    let _ = tokio::time::timeout(Duration::from_secs(2), drain).await;
                    CallEnd::CallerHungUp
                } else {
                    CallEnd::ServerClosed
                }
            }
            Err(Gone) => CallEnd::ServerClosed,
        };
        self.emit(SimEvent::Ended { at_ms, how: ended });
        self.into_report(ended, at_ms)
    }

    async fn converse(&mut self, sink: &mut Sink, stream: &mut Source) -> Result<(), Gone> {
        // Twilio opens with `connected` (no sequence number) then `start`.
        send(
            sink,
            &Inbound::Connected {
                protocol: "Call".into(),
                version: "1.0.0".into(),
            },
        )
        .await?;
        let start = Inbound::Start {
            sequence_number: Some(self.next_seq()),
            start: Start {
                account_sid: self.ids.account_sid.clone(),
                stream_sid: self.ids.stream_sid.clone(),
                call_sid: self.ids.call_sid.clone(),
                tracks: vec!["inbound".into()],
                custom_parameters: self
                    .target
                    .parameters
                    .iter()
                    .cloned()
                    .collect::<BTreeMap<_, _>>(),
                media_format: MediaFormat::mulaw_8k(),
            },
            stream_sid: self.ids.stream_sid.clone(),
        };
        send(sink, &start).await?;

        let period = Duration::from_secs_f64(FRAME_MS / 1000.0 / self.cfg.speed);
        let mut clock = tokio::time::interval(period);
        // Burst: a late tick is caught up, so the long-run frame rate stays exact.
        clock.set_missed_tick_behavior(MissedTickBehavior::Burst);
        loop {
            tokio::select! {
                _ = clock.tick() => {
                    if self.on_tick(sink).await? {
                        return Ok(());
                    }
                }
                msg = stream.next() => match msg {
                    Some(Ok(Message::Text(text))) => self.on_text(text.as_str(), sink).await?,
                    Some(Ok(Message::Close(_))) | None => return Err(Gone),
                    Some(Ok(Message::Binary(_))) => {
                        self.malformed += 1;
                        tracing::warn!("skipping a binary WebSocket message; Twilio speaks JSON text");
                    }
                    Some(Ok(_)) => {} // ping/pong/raw frames: tungstenite answers pings itself
                    Some(Err(e)) => {
                        tracing::warn!("media stream error: {e}");
                        return Err(Gone);
                    }
                }
            }
        }
    }

    fn next_seq(&mut self) -> String {
        self.seq += 1;
        self.seq.to_string()
    }

    /// One 20 ms frame: play bot audio, send caller audio, move the script along.
    /// Returns true when the script is over.
    async fn on_tick(&mut self, sink: &mut Sink) -> Result<bool, Gone> {
        let now = self.now();
        let tick = self.playout.tick(FRAME_SAMPLES);
        if tick.played > 0 {
            self.last_activity = now;
        }
        for name in tick.marks {
            self.echo_mark(name, sink).await?;
        }

        let mut frame = [0u8; FRAME_SAMPLES];
        frame.fill(0xFF); // µ-law silence
        if let Phase::Speaking {
            turn,
            pos,
            voiced_end,
        } = self.phase
        {
            let audio = &self.cfg.turns[turn].audio;
            let end = (pos + FRAME_SAMPLES).min(audio.len());
            for (dst, &s) in frame.iter_mut().zip(&audio[pos.min(end)..end]) {
                *dst = mulaw::encode_sample(s);
            }
            let audio_len = audio.len();
            let pos = pos + FRAME_SAMPLES;
            self.phase = Phase::Speaking {
                turn,
                pos,
                voiced_end,
            };
            if pos >= voiced_end && self.current != turn + 1 {
                self.speech_ended(turn, now);
            }
            if pos >= audio_len {
                let next = (turn + 1 < self.cfg.turns.len()).then_some(turn + 1);
                self.phase = Phase::Listening { next };
            }
        }
        self.chunk += 1;
        let media = Inbound::Media {
            sequence_number: Some(self.next_seq()),
            media: MediaIn {
                track: Some("inbound".into()),
                chunk: Some(self.chunk.to_string()),
                // Media time, not call time: what the caller's audio timeline says.
                timestamp: Some(((self.chunk - 1) * 20).to_string()),
                payload: B64.encode(frame),
            },
            stream_sid: self.ids.stream_sid.clone(),
        };
        send(sink, &media).await?;

        self.advance(now, sink).await
    }

    /// The caller's speech for `turn` is out: from now on bot audio is the reply to it.
    fn speech_ended(&mut self, turn: usize, now: f64) {
        self.current = turn + 1;
        self.slots[self.current].reference = now;
        self.emit(SimEvent::CallerTurnSent {
            at_ms: now as u64,
            turn: turn + 1,
        });
    }

    async fn advance(&mut self, now: f64, sink: &mut Sink) -> Result<bool, Gone> {
        match self.phase {
            Phase::Speaking { .. } => {}
            Phase::Done => return Ok(true),
            Phase::Gap { next, until } => {
                if now >= until {
                    match next {
                        Some(n) => self.start_turn(n, false, now, sink).await?,
                        None => self.phase = Phase::Done,
                    }
                }
            }
            Phase::Listening { next } => {
                let greeting = self.current == 0;
                let slot = &self.slots[self.current];
                let reference = slot.reference;
                let first_audio = slot.first_audio;
                // Talk over the bot once its reply has been going for long enough.
                if let (Some(n), Some(t0)) = (next, first_audio)
                    && let Some(after) = self.cfg.turns[n].barge_in_after
                    && now >= t0 + ms(after)
                {
                    self.start_turn(n, true, now, sink).await?;
                    return Ok(false);
                }
                let timed_out = now - reference >= ms(self.cfg.turn_timeout);
                if first_audio.is_some() {
                    let settled = self.playout.is_idle()
                        && now - self.last_activity >= ms(self.cfg.reply_settle);
                    if settled || timed_out {
                        self.finish_reply(timed_out, now);
                        self.phase = match next {
                            Some(_) => Phase::Gap {
                                next,
                                until: now + ms(self.cfg.gap),
                            },
                            None => Phase::Done,
                        };
                    }
                } else if greeting {
                    // No greeting (yet): speak first once the caller has waited long enough.
                    if now >= ms(self.cfg.lead_in + self.cfg.greeting_wait) {
                        self.slots[0].finished = true;
                        if let Some(n) = next {
                            self.start_turn(n, false, now, sink).await?;
                        }
                    }
                } else if timed_out {
                    self.finish_reply(true, now);
                    self.phase = match next {
                        Some(n) => {
                            self.start_turn(n, false, now, sink).await?;
                            return Ok(false);
                        }
                        None => Phase::Done,
                    };
                }
            }
        }
        Ok(matches!(self.phase, Phase::Done))
    }

    fn finish_reply(&mut self, timed_out: bool, now: f64) {
        let slot = &mut self.slots[self.current];
        if slot.finished {
            return;
        }
        slot.finished = true;
        slot.stats.timed_out = timed_out;
        let ev = SimEvent::ReplyFinished {
            at_ms: now as u64,
            turn: self.current.checked_sub(1).map(|t| t + 1),
            bot_audio_ms: slot.bytes / SAMPLES_PER_MS,
            marks_echoed: slot.stats.marks_echoed,
            timed_out,
        };
        self.emit(ev);
    }

    async fn start_turn(
        &mut self,
        n: usize,
        barge_in: bool,
        now: f64,
        sink: &mut Sink,
    ) -> Result<(), Gone> {
        // A new caller turn closes the bot's reply: silence from here on is not an underrun.
        self.playout.end_reply();
        self.barged[n] = barge_in;
        let turn = &self.cfg.turns[n];
        let voiced_end = turn.voiced_end();
        self.emit(SimEvent::CallerTurnStarted {
            at_ms: now as u64,
            turn: n + 1,
            label: turn.label.clone(),
            audio_ms: turn.audio_ms(),
            barge_in,
        });
        let digits: Vec<String> = turn
            .dtmf
            .as_deref()
            .unwrap_or("")
            .chars()
            .map(|c| c.to_ascii_uppercase().to_string())
            .collect();
        for digit in digits {
            let msg = Inbound::Dtmf {
                sequence_number: Some(self.next_seq()),
                dtmf: Dtmf {
                    track: Some("inbound_track".into()),
                    digit: digit.clone(),
                },
                stream_sid: self.ids.stream_sid.clone(),
            };
            send(sink, &msg).await?;
            self.emit(SimEvent::DtmfSent {
                at_ms: now as u64,
                turn: n + 1,
                digit,
            });
        }
        if self.cfg.turns[n].audio.is_empty() {
            self.speech_ended(n, now);
            let next = (n + 1 < self.cfg.turns.len()).then_some(n + 1);
            self.phase = Phase::Listening { next };
        } else {
            self.phase = Phase::Speaking {
                turn: n,
                pos: 0,
                voiced_end,
            };
        }
        Ok(())
    }

    async fn echo_mark(&mut self, name: String, sink: &mut Sink) -> Result<(), Gone> {
        let msg = Inbound::Mark {
            sequence_number: Some(self.next_seq()),
            mark: MarkBody { name: name.clone() },
            stream_sid: self.ids.stream_sid.clone(),
        };
        send(sink, &msg).await?;
        self.slots[self.current].stats.marks_echoed += 1;
        self.marks_total += 1;
        let at_ms = self.now() as u64;
        self.emit(SimEvent::MarkEchoed { at_ms, name });
        Ok(())
    }

    async fn on_text(&mut self, text: &str, sink: &mut Sink) -> Result<(), Gone> {
        let msg: Outbound = match serde_json::from_str(text) {
            Ok(m) => m,
            Err(e) => {
                self.malformed += 1;
                let head: String = text.chars().take(120).collect();
                tracing::warn!("skipping a malformed message from the server ({e}): {head}");
                return Ok(());
            }
        };
        let stream_sid = match &msg {
            Outbound::Media { stream_sid, .. }
            | Outbound::Mark { stream_sid, .. }
            | Outbound::Clear { stream_sid } => stream_sid,
        };
        if *stream_sid != self.ids.stream_sid {
            // Twilio drops messages addressed to another stream; so do we, loudly.
            self.malformed += 1;
            tracing::warn!(
                "skipping a message for stream {stream_sid:?}, ours is {}",
                self.ids.stream_sid
            );
            return Ok(());
        }
        let now = self.now();
        match msg {
            Outbound::Media { media, .. } => {
                let bytes = match B64.decode(media.payload.as_bytes()) {
                    Ok(b) => b,
                    Err(e) => {
                        self.malformed += 1;
                        tracing::warn!("skipping bot media with bad base64: {e}");
                        return Ok(());
                    }
                };
                if bytes.is_empty() {
                    return Ok(());
                }
                self.playout.push_audio(&bytes);
                self.last_activity = now;
                self.bytes_total += bytes.len() as u64;
                let turn = self.current.checked_sub(1).map(|t| t + 1);
                let slot = &mut self.slots[self.current];
                slot.bytes += bytes.len() as u64;
                if slot.first_audio.is_none() {
                    slot.first_audio = Some(now);
                    let latency = (now - slot.reference).max(0.0) as u64;
                    slot.stats.latency_ms = Some(latency);
                    self.emit(SimEvent::BotAudioStarted {
                        at_ms: now as u64,
                        turn,
                        latency_ms: latency,
                    });
                }
            }
            Outbound::Mark { mark, .. } => {
                if let Some(name) = self.playout.push_mark(mark.name) {
                    self.echo_mark(name, sink).await?;
                }
            }
            Outbound::Clear { .. } => {
                let dropped = self.playout.queued() as u64;
                let marks = self.playout.clear();
                self.slots[self.current].stats.clears_received += 1;
                self.clears_total += 1;
                self.emit(SimEvent::ClearReceived {
                    at_ms: now as u64,
                    dropped_ms: dropped / SAMPLES_PER_MS,
                });
                for name in marks {
                    self.echo_mark(name, sink).await?;
                }
            }
        }
        Ok(())
    }

    fn into_report(self, ended: CallEnd, duration_ms: u64) -> SimReport {
        let underrun = self.playout.underrun_samples();
        let bot_audio = self.playout.into_recording();
        let played = (bot_audio.len() as u64).saturating_sub(underrun);
        let mut slots = self.slots.into_iter().map(|mut s| {
            s.stats.bot_audio_ms = s.bytes / SAMPLES_PER_MS;
            s.stats
        });
        let greeting = slots.next().unwrap_or_default();
        let turns = self
            .cfg
            .turns
            .iter()
            .zip(slots)
            .enumerate()
            .map(|(i, (t, reply))| TurnReport {
                turn: i + 1,
                label: t.label.clone(),
                caller_audio_ms: t.audio_ms(),
                dtmf: t.dtmf.clone(),
                barged_in: self.barged[i],
                reply,
            })
            .collect();
        SimReport {
            server: self.cfg.server.clone(),
            call_sid: self.ids.call_sid,
            stream_sid: self.ids.stream_sid,
            stream_url: self.target.url,
            speed: self.cfg.speed,
            greeting,
            turns,
            underrun_ms: underrun / SAMPLES_PER_MS,
            bot_audio_total_ms: self.bytes_total / SAMPLES_PER_MS,
            bot_audio_played_ms: played / SAMPLES_PER_MS,
            marks_echoed_total: self.marks_total,
            clears_total: self.clears_total,
            malformed_messages: self.malformed,
            ended,
            duration_ms,
            transcript: None,
            bot_audio,
        }
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn send(sink: &mut Sink, msg: &Inbound) -> Result<(), Gone> {
    // Serialising these plain structs cannot fail; an empty string would be caught server-side.
    let json = serde_json::to_string(msg).unwrap_or_default();
    sink.send(Message::text(json)).await.map_err(|e| {
        tracing::debug!("media stream send failed: {e}");
        Gone
    })
}
