//! The driver: runs one call's [`CallCore`] on tokio. It feeds the core the transport's
//! inputs, the workers' events and the clock, and carries out its actions: sends outputs
//! to the transport, spawns and cancels reply workers, and hands store writes to the
//! call's writer task. Whatever happens — a panic included — the call record is closed.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use haru_providers::{ChatModel, Synthesizer, Transcriber};
use haru_store::CallStore;
use haru_turn::TurnModel;
use metrics::{counter, gauge};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{error, warn};

use crate::core::CallCore;
use crate::io::{Action, Input, Output, ReplyId, StoreOp, WorkerEvent};
use crate::worker::Worker;
use crate::{PhraseCache, SessionConfig, log, metrics as m};

#[derive(Clone)]
pub struct Providers {
    pub stt: Arc<dyn Transcriber>,
    pub llm: Arc<dyn ChatModel>,
    pub tts: Arc<dyn Synthesizer>,
    /// Judges each pause by its sound (Smart Turn); `None` decides by silence and words.
    pub turn_model: Option<Arc<dyn TurnModel>>,
}

/// Everything a session needs from the server; shared between calls, all immutable or
/// internally synchronised (the store and the HTTP pool).
#[derive(Clone)]
pub struct SessionDeps {
    pub providers: Providers,
    pub store: Arc<dyn CallStore>,
    pub phrases: PhraseCache,
    pub cfg: Arc<SessionConfig>,
    pub ended: Option<mpsc::UnboundedSender<CallEnded>>,
}

#[derive(Debug, Clone)]
pub struct CallEnded {
    pub call_sid: String,
    pub reason: String,
}

pub struct Session {
    call_sid: String,
    deps: SessionDeps,
    out: mpsc::Sender<Output>,
}

/// How the call ended, from the core.
struct Ended {
    reason: String,
    transcript: String,
    holds: Vec<u32>,
}

struct WorkerHandle {
    task: JoinHandle<()>,
    stop_after_stt: CancellationToken,
}

/// A dropped `JoinHandle` detaches its task: abort the workers whenever the call's loop
/// ends, a panic included, so no provider request outlives its call.
#[derive(Default)]
struct Workers(HashMap<ReplyId, WorkerHandle>);

impl Drop for Workers {
    fn drop(&mut self) {
        for w in self.0.values() {
            w.task.abort();
        }
    }
}

fn now() -> std::time::Instant {
    tokio::time::Instant::now().into_std()
}

impl Session {
    pub fn new(call_sid: String, deps: SessionDeps, out: mpsc::Sender<Output>) -> Self {
        Self {
            call_sid,
            deps,
            out,
        }
    }

    /// Runs the call until `stop`, a closed transport, a hang-up or a time limit, then
    /// closes its record and reports it ended. Never panics out: a panic inside the call
    /// is logged and the call is closed from what the store holds.
    pub async fn run(self, input: mpsc::Receiver<Input>) {
        gauge!(m::ACTIVE_CALLS).increment(1.0);
        let writer = StoreWriter::spawn(self.deps.store.clone(), self.call_sid.clone());
        let (phone, holds) = self.caller_habits().await;
        let driven = self.drive(input, writer.sender(), holds);
        self.conclude(driven, writer, phone).await;
        gauge!(m::ACTIVE_CALLS).decrement(1.0);
    }

    /// Waits for the call to end (or panic), lets every queued write land, then closes.
    async fn conclude(
        &self,
        driven: impl std::future::Future<Output = Ended>,
        writer: StoreWriter,
        phone: Option<String>,
    ) {
        let driven = AssertUnwindSafe(driven).catch_unwind().await;
        writer.finish().await;
        match driven {
            Ok(ended) => {
                if let Some(phone) = phone.filter(|_| !ended.holds.is_empty())
                    && let Err(e) = self
                        .deps
                        .store
                        .save_caller_holds(&phone, &ended.holds)
                        .await
                {
                    counter!(m::STORE_ERRORS_TOTAL).increment(1);
                    warn!(call_sid = %self.call_sid, error = %e, "could not keep the caller's pause habits");
                }
                self.close(&ended.reason, Some(ended.transcript)).await
            }
            Err(_) => {
                error!(call_sid = %self.call_sid, "the call session panicked; closing the call");
                counter!(m::SESSION_PANICS_TOTAL).increment(1);
                let transcript = self.stored_transcript().await;
                self.close("internal error", transcript).await;
            }
        }
    }

    /// The caller's number and their pause habits from earlier calls (a slow store costs
    /// the habits, never the call).
    async fn caller_habits(&self) -> (Option<String>, Vec<u32>) {
        let store = &self.deps.store;
        let lookup = async {
            let call = store.call(&self.call_sid).await.ok().flatten()?;
            let phone = if call.direction.starts_with("outbound") {
                call.to_number
            } else {
                call.from_number
            }?;
            let holds = store.caller_holds(&phone).await.unwrap_or_default();
            Some((phone, holds))
        };
        match tokio::time::timeout(Duration::from_millis(500), lookup).await {
            Ok(Some((phone, holds))) => (Some(phone), holds),
            _ => (None, Vec::new()),
        }
    }

    async fn drive(
        &self,
        mut input: mpsc::Receiver<Input>,
        store: mpsc::UnboundedSender<StoreOp>,
        holds: Vec<u32>,
    ) -> Ended {
        let deps = &self.deps;
        let (events_tx, mut events) = mpsc::unbounded_channel::<(ReplyId, WorkerEvent)>();
        let mut workers = Workers::default();
        let mut core = CallCore::new(
            self.call_sid.clone(),
            deps.cfg.clone(),
            deps.phrases.clone(),
            now(),
        );
        core.remember_holds(&holds);
        core.start(now());
        let far = || tokio::time::Instant::now() + Duration::from_secs(86_400);
        let sleep = tokio::time::sleep_until(far());
        tokio::pin!(sleep);
        let mut input_open = true;
        loop {
            while let Some(action) = core.poll_action() {
                match action {
                    // A closed transport is noticed on the input side.
                    Action::Send(o) => {
                        let _ = self.out.send(o).await;
                    }
                    Action::Start { id, job } => {
                        let stop_after_stt = CancellationToken::new();
                        let worker = Worker {
                            id,
                            providers: deps.providers.clone(),
                            cfg: deps.cfg.clone(),
                            phrases: deps.phrases.clone(),
                            events: events_tx.clone(),
                        };
                        let task =
                            spawn_worker(worker, job, stop_after_stt.clone(), events_tx.clone());
                        workers.0.insert(
                            id,
                            WorkerHandle {
                                task,
                                stop_after_stt,
                            },
                        );
                    }
                    Action::Cancel {
                        id,
                        keep_transcript,
                    } => {
                        if keep_transcript {
                            if let Some(w) = workers.0.get(&id) {
                                w.stop_after_stt.cancel();
                            }
                        } else if let Some(w) = workers.0.remove(&id) {
                            w.task.abort();
                        }
                    }
                    Action::Store(op) => {
                        let _ = store.send(op);
                    }
                    Action::WarmUp(messages) => {
                        // Fire and forget: the first token proves the prompt was read;
                        // dropping the stream then stops the generation.
                        let llm = deps.providers.llm.clone();
                        let timeout = deps.cfg.llm_timeout;
                        tokio::spawn(async move {
                            let warm = async {
                                if let Ok(mut s) = llm.stream(&messages).await {
                                    let _ = futures::StreamExt::next(&mut s).await;
                                }
                            };
                            let _ = tokio::time::timeout(timeout, warm).await;
                        });
                    }
                    Action::CachePhrases(texts) => {
                        // One attempt each: a call must not leave a retry loop behind.
                        let (tts, phrases) = (deps.providers.tts.clone(), deps.phrases.clone());
                        let timeout = deps.cfg.tts_timeout;
                        tokio::spawn(async move {
                            for text in texts {
                                let synth =
                                    crate::phrases::synthesize_to_mulaw(tts.as_ref(), &text);
                                if let Ok(Ok(audio)) = tokio::time::timeout(timeout, synth).await {
                                    phrases.insert(&text, audio.into());
                                }
                            }
                        });
                    }
                    Action::Close { reason, transcript } => {
                        return Ended {
                            reason,
                            transcript,
                            holds: core.holds(),
                        };
                    }
                }
            }
            workers.0.retain(|_, w| !w.task.is_finished());
            let deadline = core
                .poll_timeout(now())
                .map(tokio::time::Instant::from_std)
                .unwrap_or_else(far);
            if sleep.deadline() != deadline {
                sleep.as_mut().reset(deadline);
            }
            tokio::select! {
                msg = input.recv(), if input_open => match msg {
                    Some(i) => core.handle_input(i, now()),
                    None => {
                        input_open = false;
                        core.handle_input(Input::Closed, now());
                    }
                },
                Some((id, ev)) = events.recv() => core.handle_worker(id, ev, now()),
                _ = &mut sleep => core.handle_timeout(now()),
            }
        }
    }

    /// After a panic the core's transcript is gone: rebuild it from the store. `None` when
    /// that read fails, so a failed read never overwrites a stored transcript.
    async fn stored_transcript(&self) -> Option<String> {
        crate::recover::stored_transcript(self.deps.store.as_ref(), &self.call_sid).await
    }

    async fn close(&self, reason: &str, transcript: Option<String>) {
        if let Err(e) = self
            .deps
            .store
            .close_call(&self.call_sid, reason, transcript.as_deref())
            .await
        {
            counter!(m::STORE_ERRORS_TOTAL).increment(1);
            warn!(call_sid = %self.call_sid, error = %e, "could not close the call record");
        }
        let shown = transcript.unwrap_or_default();
        log::call_end(&self.call_sid, reason, &shown, shown.lines().count());
        if let Some(tx) = &self.deps.ended {
            let _ = tx.send(CallEnded {
                call_sid: self.call_sid.clone(),
                reason: reason.to_string(),
            });
        }
    }
}

/// A panicking worker reports a failure like any provider, so its turn gets an apology.
fn spawn_worker(
    worker: Worker,
    job: crate::io::Job,
    stop_after_stt: CancellationToken,
    events: mpsc::UnboundedSender<(ReplyId, WorkerEvent)>,
) -> JoinHandle<()> {
    let id = worker.id;
    tokio::spawn(async move {
        if AssertUnwindSafe(worker.run(job, stop_after_stt))
            .catch_unwind()
            .await
            .is_err()
        {
            let _ = events.send((
                id,
                WorkerEvent::Failed {
                    error: "internal error in the reply worker".into(),
                },
            ));
            let _ = events.send((id, WorkerEvent::Finished { llm_total_ms: None }));
        }
    })
}

/// The call's store writes, in order, on their own task so a slow disk never delays
/// playout. Every write is queued the moment the core decides it; a failure is logged
/// with the call SID and counted.
struct StoreWriter {
    tx: mpsc::UnboundedSender<StoreOp>,
    task: JoinHandle<()>,
}

impl StoreWriter {
    fn spawn(store: Arc<dyn CallStore>, call_sid: String) -> Self {
        let (tx, mut rx) = mpsc::unbounded_channel::<StoreOp>();
        let task = tokio::spawn(async move {
            while let Some(op) = rx.recv().await {
                let (what, result) = match &op {
                    StoreOp::Message(msg) => ("message", store.add_message(msg).await.map(|_| ())),
                    StoreOp::Turn(t) => ("turn", store.record_turn(t).await),
                    StoreOp::Alert(a) => ("alert", store.raise_alert(a).await.map(|_| ())),
                };
                if let Err(e) = result {
                    counter!(m::STORE_ERRORS_TOTAL).increment(1);
                    warn!(call_sid = %call_sid, what, error = %e, "could not store");
                }
            }
        });
        Self { tx, task }
    }

    fn sender(&self) -> mpsc::UnboundedSender<StoreOp> {
        self.tx.clone()
    }

    /// Waits until every queued write is done (all senders gone).
    async fn finish(self) {
        drop(self.tx);
        if let Err(e) = self.task.await {
            error!(error = %e, "store writer failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_trait::async_trait;
    use haru_providers::chat::TokenStream;
    use haru_providers::tts::AudioStream;
    use haru_providers::{ChatMessage, ProviderError};
    use haru_store::{MemoryStore, NewMessage, Role};

    struct Down;
    fn down(stage: &'static str) -> ProviderError {
        ProviderError::Transport {
            stage,
            message: "down".into(),
        }
    }
    #[async_trait]
    impl Transcriber for Down {
        async fn transcribe(&self, _: &[i16], _: u32) -> Result<String, ProviderError> {
            Err(down("stt"))
        }
    }
    #[async_trait]
    impl ChatModel for Down {
        async fn stream(&self, _: &[ChatMessage]) -> Result<TokenStream, ProviderError> {
            Err(down("llm"))
        }
        async fn complete(
            &self,
            _: &[ChatMessage],
            _: Option<serde_json::Value>,
        ) -> Result<String, ProviderError> {
            Err(down("llm"))
        }
    }
    #[async_trait]
    impl Synthesizer for Down {
        fn sample_rate(&self) -> u32 {
            24_000
        }
        async fn synthesize(&self, _: &str) -> Result<AudioStream, ProviderError> {
            Err(down("tts"))
        }
    }

    /// A panic anywhere in the call's own task (not a worker's) still closes the call,
    /// with the transcript read back from the store, and still reports it ended so its
    /// post-call jobs are queued.
    #[tokio::test]
    async fn a_panic_inside_the_call_still_closes_it() {
        let store = Arc::new(MemoryStore::default());
        store
            .add_message(&NewMessage {
                call_sid: "CA1".into(),
                turn_index: 1,
                role: Role::User,
                content: "hello".into(),
                interrupted: false,
            })
            .await
            .unwrap();
        let (ended_tx, mut ended) = mpsc::unbounded_channel();
        let deps = SessionDeps {
            providers: Providers {
                stt: Arc::new(Down),
                llm: Arc::new(Down),
                tts: Arc::new(Down),
                turn_model: None,
            },
            store: store.clone(),
            phrases: PhraseCache::default(),
            cfg: Arc::new(SessionConfig::default()),
            ended: Some(ended_tx),
        };
        let (out, _out_rx) = mpsc::channel(8);
        let session = Session::new("CA1".into(), deps, out);
        let writer = StoreWriter::spawn(store.clone(), "CA1".into());
        session
            .conclude(
                async {
                    panic!("a bug in the call");
                    #[allow(unreachable_code)]
                    Ended {
                        reason: String::new(),
                        transcript: String::new(),
                        holds: Vec::new(),
                    }
                },
                writer,
                None,
            )
            .await;
        let call = store.call("CA1").await.unwrap().unwrap();
        assert_eq!(call.end_reason.as_deref(), Some("internal error"));
        assert_eq!(call.transcript.as_deref(), Some("👤 hello"));
        assert_eq!(ended.recv().await.unwrap().reason, "internal error");
    }
}
