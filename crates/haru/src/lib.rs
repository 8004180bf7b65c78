//! Library side of the `haru` binary: the offline demo, shared by the CLI and its tests.

pub mod demo;
pub mod run;
