//! What the rest of haru (the daily companion) learns from, and adds to, a call: the
//! server stays ignorant of people, schedules and memory and calls these hooks.

use async_trait::async_trait;
use haru_session::SessionConfig;

#[async_trait]
pub trait CallHooks: Send + Sync + 'static {
    /// This call's session settings when it is a known person's (their language, their
    /// name in the greeting, what haru remembers of them); `None` keeps `base`.
    async fn session_config(&self, call_sid: &str, base: &SessionConfig) -> Option<SessionConfig>;
    /// A status callback for this call was stored (`CallStatus`, all parameters).
    async fn call_status(&self, call_sid: &str, status: &str, params: &[(String, String)]);
    /// Twilio's asynchronous answering-machine verdict (`AnsweredBy`).
    async fn answered_by(&self, call_sid: &str, answered_by: &str);
}

pub type SharedHooks = std::sync::Arc<std::sync::OnceLock<std::sync::Arc<dyn CallHooks>>>;
