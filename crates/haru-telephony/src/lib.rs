//! Everything that speaks Twilio: Media Streams messages, TwiML, webhook signatures, REST.
//!
//! This crate knows nothing about audio processing or conversations; it only turns Twilio's
//! wire formats into typed Rust values and back.

pub mod media;
pub mod rest;
pub mod sid;
pub mod signature;
pub mod twiml;
pub mod url;

pub use media::{Inbound, Outbound};
pub use rest::{TwilioClient, TwilioError};
