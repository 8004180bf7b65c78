//! The session driver on tokio, in virtual time (`start_paused`), with in-process
//! providers that answer, fail or hang on cue. What the core decides is tested in
//! `call_core.rs`; here: timeouts, workers, pacing and the store, as they really run.

mod harness;

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures::Stream;
use harness::{config, silence, speech};
use haru_providers::chat::TokenStream;
use haru_providers::tts::AudioStream;
use haru_providers::{ChatMessage, ChatModel, ProviderError, Synthesizer, Transcriber};
use haru_session::{
    CallEnded, Input, Output, PhraseCache, Providers, Session, SessionConfig, SessionDeps,
};
use haru_store::{CallStore, MemoryStore, Role};
use tokio::sync::mpsc;
use tokio::time::Instant;

#[derive(Default)]
struct Fault {
    hang: AtomicBool,
    fail: AtomicBool,
    panic: AtomicBool,
    calls: AtomicUsize,
}

impl Fault {
    async fn check(&self, stage: &'static str) -> Result<(), ProviderError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.panic.load(Ordering::SeqCst) {
            panic!("{stage} provider panicked");
        }
        if self.hang.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        if self.fail.load(Ordering::SeqCst) {
            return Err(ProviderError::Http {
                stage,
                status: 500,
                message: "boom".into(),
            });
        }
        Ok(())
    }
}

struct Stt(Arc<Fault>, String);
#[async_trait]
impl Transcriber for Stt {
    async fn transcribe(&self, _pcm: &[i16], _rate: u32) -> Result<String, ProviderError> {
        self.0.check("stt").await?;
        tokio::time::sleep(Duration::from_millis(150)).await;
        Ok(self.1.clone())
    }
}

struct Llm(Arc<Fault>, String);
#[async_trait]
impl ChatModel for Llm {
    async fn stream(&self, _m: &[ChatMessage]) -> Result<TokenStream, ProviderError> {
        self.0.check("llm").await?;
        tokio::time::sleep(Duration::from_millis(200)).await;
        let words: Vec<String> = self.1.split_inclusive(' ').map(str::to_string).collect();
        let s = futures::stream::unfold(words.into_iter(), |mut it| async move {
            let w = it.next()?;
            tokio::time::sleep(Duration::from_millis(20)).await;
            Some((Ok(w), it))
        });
        Ok(Box::pin(s))
    }
    async fn complete(
        &self,
        _m: &[ChatMessage],
        _f: Option<serde_json::Value>,
    ) -> Result<String, ProviderError> {
        Ok(self.1.clone())
    }
}

/// 24 kHz PCM, 60 ms of audio per character, each sentence at its own constant level so
/// its µ-law bytes identify it.
struct Tts(Arc<Fault>, AtomicUsize);
#[async_trait]
impl Synthesizer for Tts {
    fn sample_rate(&self) -> u32 {
        24_000
    }
    async fn synthesize(&self, text: &str) -> Result<AudioStream, ProviderError> {
        self.0.check("tts").await?;
        tokio::time::sleep(Duration::from_millis(150)).await;
        let level = 1000 + 500 * self.1.fetch_add(1, Ordering::SeqCst) as i16;
        let samples = text.chars().count() * 60 * 24;
        let pcm: Vec<u8> = std::iter::repeat_n(level.to_le_bytes(), samples)
            .flatten()
            .collect();
        let chunks: Vec<Result<bytes::Bytes, ProviderError>> = pcm
            .chunks(4800)
            .map(|c| Ok(bytes::Bytes::copy_from_slice(c)))
            .collect();
        let s: Pin<Box<dyn Stream<Item = _> + Send>> = Box::pin(futures::stream::iter(chunks));
        Ok(s)
    }
}

struct World {
    stt: Arc<Fault>,
    llm: Arc<Fault>,
    tts: Arc<Fault>,
    store: Arc<MemoryStore>,
    phrases: PhraseCache,
    providers: Providers,
    cfg: SessionConfig,
}

const SID: &str = "CAdriver";
const REPLY: &str = "That sounds like a lovely day. Tell me more about the park.";

impl World {
    fn new() -> Self {
        let (stt, llm, tts) = (
            Arc::<Fault>::default(),
            Arc::<Fault>::default(),
            Arc::<Fault>::default(),
        );
        let providers = Providers {
            stt: Arc::new(Stt(stt.clone(), "I went to the park.".into())),
            llm: Arc::new(Llm(llm.clone(), REPLY.into())),
            tts: Arc::new(Tts(tts.clone(), AtomicUsize::new(0))),
            turn_model: None,
        };
        let mut cfg = config();
        cfg.greeting = String::new();
        cfg.stt_timeout = Duration::from_secs(3);
        cfg.llm_timeout = Duration::from_secs(3);
        cfg.tts_timeout = Duration::from_secs(3);
        Self {
            stt,
            llm,
            tts,
            store: Arc::new(MemoryStore::default()),
            phrases: PhraseCache::default(),
            providers,
            cfg,
        }
    }

    /// Caches the fixed phrases the way the server does at start-up.
    async fn warm(&self) {
        let c = &self.cfg;
        let texts = vec![c.apology.clone(), c.goodbye.clone(), c.idle_prompt.clone()];
        self.phrases
            .clone()
            .warm(self.providers.tts.clone(), texts, c.tts_timeout)
            .await;
    }

    fn start(&self) -> Running {
        let (in_tx, in_rx) = mpsc::channel(500);
        let (out_tx, mut out_rx) = mpsc::channel(256);
        let (ended_tx, ended) = mpsc::unbounded_channel();
        let deps = SessionDeps {
            providers: self.providers.clone(),
            store: self.store.clone(),
            phrases: self.phrases.clone(),
            cfg: Arc::new(self.cfg.clone()),
            ended: Some(ended_tx),
        };
        let outputs = Arc::new(Mutex::new(Vec::new()));
        let sink = outputs.clone();
        let t0 = Instant::now();
        tokio::spawn(async move {
            while let Some(o) = out_rx.recv().await {
                sink.lock().unwrap().push((t0.elapsed(), o));
            }
        });
        let task = tokio::spawn(Session::new(SID.into(), deps, out_tx).run(in_rx));
        // Like a phone line, the caller's side sends a frame every 20 ms, silence or not.
        let queue = Arc::new(Mutex::new(std::collections::VecDeque::<i16>::new()));
        let (q, tx) = (queue.clone(), in_tx.clone());
        let caller = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(20));
            loop {
                tick.tick().await;
                let frame: Vec<i16> = {
                    let mut q = q.lock().unwrap();
                    (0..160).map(|_| q.pop_front().unwrap_or(0)).collect()
                };
                if tx.send(Input::Audio(frame)).await.is_err() {
                    return;
                }
            }
        });
        Running {
            input: in_tx,
            outputs,
            ended,
            task,
            t0,
            queue,
            caller,
        }
    }
}

struct Running {
    input: mpsc::Sender<Input>,
    outputs: Arc<Mutex<Vec<(Duration, Output)>>>,
    ended: mpsc::UnboundedReceiver<CallEnded>,
    task: tokio::task::JoinHandle<()>,
    t0: Instant,
    queue: Arc<Mutex<std::collections::VecDeque<i16>>>,
    caller: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Sends caller audio in real (virtual) time, 20 ms a frame.
    async fn say(&self, pcm: &[i16]) {
        self.queue.lock().unwrap().extend(pcm.iter().copied());
        while !self.queue.lock().unwrap().is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Speech, then the silence that ends the turn; returns when the caller stopped talking.
    async fn turn(&self) -> Duration {
        self.say(&speech()).await;
        let stopped = self.t0.elapsed();
        self.say(&silence(700)).await;
        stopped
    }

    fn audio(&self) -> Vec<(Duration, Vec<u8>)> {
        self.outputs
            .lock()
            .unwrap()
            .iter()
            .filter_map(|(t, o)| match o {
                Output::Audio(a) => Some((*t, a.clone())),
                _ => None,
            })
            .collect()
    }

    fn first_audio_after(&self, t: Duration) -> Option<Duration> {
        self.audio()
            .into_iter()
            .map(|(at, _)| at)
            .find(|at| *at >= t)
    }

    async fn stop(mut self) -> CallEnded {
        self.caller.abort();
        self.input.send(Input::Stop).await.unwrap();
        let ended = self.ended.recv().await.unwrap();
        self.task.await.unwrap();
        ended
    }
}

#[tokio::test(start_paused = true)]
async fn a_turn_is_answered_paced_in_real_time_and_stored() {
    let w = World::new();
    let call = w.start();
    let stopped = call.turn().await;
    // Marks return as a phone plays them: echo each one 20 ms per frame after the audio.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let audio = call.audio();
    assert!(!audio.is_empty());
    let first = audio[0].0;
    // The lead never runs more than 100 ms (+ one frame) ahead of real time.
    let mut sent_ms = 0u128;
    for (at, a) in &audio {
        sent_ms += a.len() as u128 / 8;
        let elapsed = (*at - first).as_millis();
        assert!(
            sent_ms <= elapsed + 120,
            "{sent_ms} ms sent after {elapsed} ms"
        );
    }
    // The reply is spoken in three pieces ("That sounds like" / "a lovely day." / the
    // second sentence): the two spaces it is cut at are not synthesised.
    let total_ms = (REPLY.chars().count() as u128 - 2) * 60;
    // Each piece's last frame is padded to 20 ms; nothing is lost.
    assert!(
        sent_ms >= total_ms && sent_ms <= total_ms + 3 * 20,
        "{sent_ms} of {total_ms}"
    );
    // End of speech → first audio: silence to the end of turn (600) minus the pause the
    // speculation started at (150) is the floor; the providers ran meanwhile.
    let wait = first - stopped;
    assert!(wait < Duration::from_millis(900), "{wait:?}");
    for (_, o) in call.outputs.lock().unwrap().iter() {
        if let Output::Mark(m) = o {
            call.input.try_send(Input::Mark(m.clone())).unwrap();
        }
    }
    let ended = call.stop().await;
    assert_eq!(ended.reason, "stop");
    let msgs = w.store.messages(SID).await.unwrap();
    let said: Vec<(Role, &str)> = msgs.iter().map(|m| (m.role, m.content.as_str())).collect();
    assert_eq!(
        said,
        [
            (Role::User, "I went to the park."),
            (Role::Assistant, REPLY)
        ]
    );
    let rec = w.store.call(SID).await.unwrap().unwrap();
    assert!(rec.transcript.unwrap().contains(REPLY));
}

/// A provider that hangs at any stage: the caller hears the cached apology within the stage
/// timeout plus 200 ms, the error is stored with the turn, and the call goes on.
#[tokio::test(start_paused = true)]
async fn a_hanging_provider_is_answered_with_the_apology_within_its_timeout() {
    for stage in ["stt", "llm", "tts"] {
        let w = World::new();
        w.warm().await;
        let fault = match stage {
            "stt" => &w.stt,
            "llm" => &w.llm,
            _ => &w.tts,
        };
        fault.hang.store(true, Ordering::SeqCst);
        let call = w.start();
        let stopped = call.turn().await;
        tokio::time::sleep(Duration::from_secs(5)).await;
        let first = call
            .first_audio_after(stopped)
            .expect("the caller hears something");
        // The turn is confirmed 600 ms after the speech; the stage before the hang took
        // at most 150 (STT) + 200 (LLM) ms; then the 3 s timeout.
        let limit = Duration::from_millis(600 + 350 + 3000 + 200);
        assert!(
            first - stopped <= limit,
            "{stage}: first audio after {:?}",
            first - stopped
        );
        let ended = call.stop().await;
        assert_eq!(ended.reason, "stop");
        let turns = w.store.turns(SID).await.unwrap();
        let t = turns.iter().find(|t| t.turn_index == 1).unwrap();
        assert!(
            t.error.as_deref().unwrap_or("").contains(stage),
            "{stage}: {t:?}"
        );
        let msgs = w.store.messages(SID).await.unwrap();
        let assistant: Vec<&str> = msgs
            .iter()
            .filter(|m| m.role == Role::Assistant)
            .map(|m| m.content.as_str())
            .collect();
        // The apology is what the caller heard, whether played out or cut by the stop.
        assert!(
            assistant
                .iter()
                .any(|a| a.starts_with("Sorry, something went wrong")),
            "{stage}: {assistant:?}"
        );
        if stage != "stt" {
            assert_eq!(
                msgs[0].content, "I went to the park.",
                "{stage}: words kept"
            );
        }
    }
}

/// TTS unreachable since start-up: nothing is cached, so a chime plays at the timeout
/// (not after a second timeout for the apology), and no words are stored for it.
#[tokio::test(start_paused = true)]
async fn tts_down_since_start_plays_a_chime_and_stores_no_false_words() {
    let w = World::new();
    w.tts.hang.store(true, Ordering::SeqCst);
    // The warm-up keeps retrying in the background, as on the server.
    tokio::spawn(w.phrases.clone().warm(
        w.providers.tts.clone(),
        vec![w.cfg.apology.clone()],
        w.cfg.tts_timeout,
    ));
    let call = w.start();
    let stopped = call.turn().await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    let first = call.first_audio_after(stopped).expect("a chime");
    assert!(
        first - stopped <= Duration::from_millis(600 + 350 + 3000 + 200),
        "{:?}",
        first - stopped
    );
    call.stop().await;
    let msgs = w.store.messages(SID).await.unwrap();
    assert!(
        msgs.iter().all(|m| m.role != Role::Assistant),
        "only a chime was played: {msgs:?}"
    );
    let turns = w.store.turns(SID).await.unwrap();
    assert_eq!(turns[0].outcome, "error");
    assert!(turns[0].error.as_deref().unwrap().contains("tts"));
}

/// A provider failure stays recorded even when the caller then talks over the apology.
#[tokio::test(start_paused = true)]
async fn a_failure_is_recorded_whatever_else_happens_in_the_turn() {
    let w = World::new();
    w.warm().await;
    w.llm.hang.store(true, Ordering::SeqCst);
    let call = w.start();
    call.turn().await;
    tokio::time::sleep(Duration::from_millis(3400)).await;
    // Talk over the apology.
    call.turn().await;
    call.stop().await;
    let turns = w.store.turns(SID).await.unwrap();
    let t = turns.iter().find(|t| t.turn_index == 1).unwrap();
    assert!(t.barge_in, "{t:?}");
    assert!(t.error.as_deref().unwrap_or("").contains("llm"), "{t:?}");
}

#[tokio::test(start_paused = true)]
async fn after_barge_in_no_audio_of_the_old_reply_leaves() {
    let w = World::new();
    let call = w.start();
    call.turn().await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    call.say(&speech()).await;
    let outputs = call.outputs.lock().unwrap().clone();
    let clear = outputs
        .iter()
        .position(|(_, o)| *o == Output::Clear)
        .expect("barge-in sends clear");
    let old: std::collections::HashSet<u8> = outputs[..clear]
        .iter()
        .filter_map(|(_, o)| match o {
            Output::Audio(a) => Some(a[0]),
            _ => None,
        })
        .collect();
    let after: Vec<u8> = outputs[clear..]
        .iter()
        .filter_map(|(_, o)| match o {
            Output::Audio(a) => Some(a[0]),
            _ => None,
        })
        .collect();
    assert!(!old.is_empty(), "the reply was playing");
    assert!(
        after.iter().all(|b| !old.contains(b)),
        "old audio after clear: {after:?}"
    );
    call.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_panicking_provider_is_a_failure_not_a_dead_call() {
    let w = World::new();
    w.warm().await;
    w.stt.panic.store(true, Ordering::SeqCst);
    let call = w.start();
    call.turn().await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(!call.audio().is_empty(), "the apology plays");
    let ended = call.stop().await;
    assert_eq!(ended.reason, "stop");
    let turns = w.store.turns(SID).await.unwrap();
    assert!(
        turns[0]
            .error
            .as_deref()
            .unwrap()
            .contains("internal error")
    );
}

/// Store writes that fail are reported and lose nothing the call still knows: the call
/// record is closed with the whole transcript.
#[tokio::test(start_paused = true)]
async fn failed_writes_still_close_the_call_with_every_word() {
    let w = World::new();
    w.store.fail_writes(true);
    let call = w.start();
    call.turn().await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    call.stop().await;
    assert!(w.store.messages(SID).await.unwrap().is_empty());
    let rec = w.store.call(SID).await.unwrap().unwrap();
    let transcript = rec.transcript.unwrap();
    assert!(transcript.contains("I went to the park."), "{transcript}");
    assert_eq!(rec.end_reason.as_deref(), Some("stop"));
}

/// A caller's pause habits come from the store at the start of the call and go back,
/// updated, at its end (keyed by their number).
#[tokio::test(start_paused = true)]
async fn the_callers_pause_habits_are_kept_across_calls() {
    let w = World::new();
    let phone = "+821055500000";
    w.store
        .upsert_call(&haru_store::NewCall {
            call_sid: SID.into(),
            direction: "inbound".into(),
            from_number: Some(phone.into()),
            ..Default::default()
        })
        .await
        .unwrap();
    w.store
        .save_caller_holds(phone, &[1200, 1300, 1250])
        .await
        .unwrap();
    let call = w.start();
    // One turn with a short hold inside it.
    call.say(&speech()).await;
    call.say(&silence(400)).await;
    call.turn().await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    call.stop().await;
    let holds = w.store.caller_holds(phone).await.unwrap();
    assert_eq!(&holds[..3], [1200, 1300, 1250], "{holds:?}");
    assert_eq!(holds.len(), 4, "{holds:?}");
    assert!(holds[3] >= 150 && holds[3] < 600, "{holds:?}");
}

/// An audio turn model that records what it was asked and answers `verdict`.
struct Ear {
    heard: Mutex<Vec<usize>>,
    verdict: Result<f32, String>,
}

impl haru_turn::TurnModel for Ear {
    fn finished(&self, pcm_16k: &[i16]) -> Result<f32, String> {
        self.heard.lock().unwrap().push(pcm_16k.len());
        self.verdict.clone()
    }
}

#[tokio::test(start_paused = true)]
async fn the_turn_model_judges_each_pause_and_a_failing_one_costs_nothing() {
    for verdict in [Ok(0.97), Err("model broke".to_string())] {
        let mut w = World::new();
        let ear = Arc::new(Ear {
            heard: Mutex::new(Vec::new()),
            verdict: verdict.clone(),
        });
        w.providers.turn_model = Some(ear.clone());
        let call = w.start();
        call.turn().await;
        tokio::time::sleep(Duration::from_secs(6)).await;
        // It heard the utterance at 16 kHz (about twice the 8 kHz samples said)...
        let heard = ear.heard.lock().unwrap().clone();
        assert!(!heard.is_empty(), "{verdict:?}: the model was never asked");
        assert!(
            heard.iter().all(|&n| n + 16_000 >= speech().len() * 2),
            "{verdict:?}: {heard:?}"
        );
        // ...and the turn was answered either way.
        assert!(!call.audio().is_empty(), "{verdict:?}: no answer");
        call.stop().await;
        let msgs = w.store.messages(SID).await.unwrap();
        assert!(msgs.iter().any(|m| m.content == REPLY), "{verdict:?}");
    }
}
