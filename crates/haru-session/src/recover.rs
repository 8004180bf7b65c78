//! Closing a call whose session is gone (the process died mid-call, or Twilio reports the
//! call completed while no session here holds it): the transcript is rebuilt from the
//! messages already stored, so that day's diary can still be written.

use haru_store::CallStore;
use tracing::warn;

use crate::log;

/// The stored messages as the call log's transcript (speaker mark + words per line).
pub async fn stored_transcript(store: &dyn CallStore, call_sid: &str) -> Option<String> {
    match store.messages(call_sid).await {
        Ok(msgs) => Some(
            msgs.iter()
                .map(|m| format!("{} {}", log::speaker(m.role), m.content))
                .collect::<Vec<_>>()
                .join("\n"),
        ),
        Err(e) => {
            warn!(call_sid, error = %e, "could not read the transcript back");
            None
        }
    }
}

/// Closes an open call from what the store holds, if it is still open and no other live
/// instance holds it (`CallStore::close_lost`: checked in the same write, so a session
/// that closed it meanwhile keeps its own ending). A failed read closes it without
/// touching the transcript (never overwritten with less). `true`: this closed it, and
/// its post-call work is the caller's to queue.
pub async fn close_from_store(
    store: &dyn CallStore,
    call_sid: &str,
    reason: &str,
) -> haru_store::Result<bool> {
    let transcript = stored_transcript(store, call_sid).await;
    store
        .close_lost(call_sid, reason, transcript.as_deref())
        .await
}
