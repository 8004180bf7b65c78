//! What crosses the call core's boundary. The core consumes [`Input`]s (from the transport),
//! [`WorkerEvent`]s (from the reply workers) and the time; it emits [`Action`]s. None of these
//! know Twilio's JSON, base64, a `streamSid` or HTTP: a second transport (another telephony
//! provider, a browser microphone) maps its own messages onto the same enums.

use haru_providers::ChatMessage;
use haru_store::{NewMessage, TurnTiming};

/// From the transport, in arrival order.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// One chunk of the caller's audio: 8 kHz mono PCM.
    Audio(Vec<i16>),
    /// A playback marker came back: the caller heard everything sent before it.
    Mark(String),
    /// A keypad digit.
    Dtmf(String),
    /// The transport said the call is over.
    Stop,
    /// The transport went away without saying so.
    Closed,
}

/// To the transport.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// 8 kHz µ-law, a whole number of 20 ms frames (160 bytes each), to play in order.
    Audio(Vec<u8>),
    /// Ask to be told (with [`Input::Mark`]) once everything sent so far has played.
    Mark(String),
    /// Drop all audio not yet played.
    Clear,
    /// End the phone call.
    HangUp,
}

/// Identifies one reply (and its worker) within a call; late news of a cancelled reply is
/// recognised by its id and ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReplyId(pub u64);

/// Work for a reply worker (providers only; the worker never touches the transport).
#[derive(Debug, Clone, PartialEq)]
pub enum Job {
    /// Transcribe this 16 kHz utterance, then answer it with the LLM and speak the answer.
    Answer {
        audio: Vec<i16>,
        rate: u32,
        /// System prompt and history as the caller heard it, for the LLM.
        history: Vec<ChatMessage>,
    },
    /// Synthesise a fixed phrase that is not cached yet.
    Speak { text: String },
}

/// What a reply worker reports, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum WorkerEvent {
    Transcript {
        text: String,
        stt_ms: i64,
    },
    /// The audio end-of-turn model's verdict on the pause being answered: the probability
    /// that the caller has finished, from how the turn sounds. Answer jobs only, when a
    /// model is configured; it may come before or after the transcript.
    TurnScore {
        finished: f32,
        ms: i64,
    },
    LlmFirstToken {
        ms: i64,
    },
    TtsFirstByte {
        ms: i64,
    },
    /// The answer began with this word ("네,"), left unspoken because the acknowledgement
    /// says it: if one plays, it is stored with the model's own spelling.
    AckWord {
        text: String,
    },
    /// A sentence's audio begins; `Audio` chunks follow, then `SentenceEnd`.
    SentenceBegin {
        text: String,
    },
    /// 8 kHz µ-law, whole frames.
    Audio(Vec<u8>),
    SentenceEnd,
    /// A provider failed or timed out; the worker stops after this.
    Failed {
        error: String,
    },
    /// The worker is done (also after `Failed`).
    Finished {
        llm_total_ms: Option<i64>,
    },
}

/// Store writes, in the order they must happen.
#[derive(Debug, Clone, PartialEq)]
pub enum StoreOp {
    Message(NewMessage),
    Turn(TurnTiming),
    /// The caller said something an alert is raised for (emergency, despair).
    Alert(haru_store::NewAlert),
}

/// Everything the core asks the outside world to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Send(Output),
    /// Spawn a worker for this job.
    Start {
        id: ReplyId,
        job: Job,
    },
    /// Stop a worker. With `keep_transcript`, a worker still transcribing finishes the
    /// transcript (the caller's words must be kept) and stops before the LLM.
    Cancel {
        id: ReplyId,
        keep_transcript: bool,
    },
    Store(StoreOp),
    /// Send the LLM the conversation's opening (system prompt, greeting) and discard the
    /// answer, so a local model's prompt cache holds it before the caller's first turn.
    WarmUp(Vec<haru_providers::ChatMessage>),
    /// Synthesise these fixed phrases into the cache, once, in the background (an
    /// acknowledgement in a language the server did not cache at start-up).
    CachePhrases(Vec<String>),
    /// The call is over: close its record with this transcript. Always the last action.
    Close {
        reason: String,
        transcript: String,
    },
}
