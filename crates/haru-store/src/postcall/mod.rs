//! The post-call tables (migration 0002, `memory` kind in 0004): the durable job queue
//! and the results the jobs write — diaries, schedules, moods, quality reports. The
//! jobs' logic lives in `haru-postcall`; their rows live here.

mod model;
mod queue;
mod results;

pub use crate::ts;
pub use model::*;
pub use queue::backoff;
