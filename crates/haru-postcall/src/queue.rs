//! The durable job queue: its rows and queries live in `haru-store` (the only owner of
//! tables); re-exported here because the worker and the API speak of jobs.

pub use haru_store::postcall::{
    Claim, Job, JobFilter, JobKind, JobResult, JobState, Rerun, backoff, ts,
};
