//! Library side of the `haru` binary: the offline demo, shared by the CLI and its tests.

pub mod companion;
pub mod dashboard_bench;
pub mod demo;
mod language;
pub mod run;
