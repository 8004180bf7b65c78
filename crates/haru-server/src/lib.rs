//! The haru HTTP server: Twilio webhooks, the Media Streams WebSocket, health and metrics.
//!
//! [`build`] turns a [`Config`] into a ready [`App`]; [`App::serve`] runs it on a listener
//! until the shutdown token fires. Integration tests spawn the real app on a random port.

pub mod app;
pub mod browser;
mod budget;
pub mod config;
mod error;
pub mod hooks;
mod metrics;
pub mod serve;
mod twilio_routes;
mod ws;

pub use app::{App, AppState, build, build_with_store};
pub use browser::TicketCheck;
pub use config::{Config, ConfigError, LogFormat};
pub use hooks::CallHooks;
