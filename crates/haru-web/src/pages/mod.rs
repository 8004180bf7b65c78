//! The route table; one module per page.

pub mod alerts;
pub mod assets;
pub mod call;
pub mod calls;
pub mod live;
pub mod login;
pub mod people;
pub mod person;
pub mod talk;

use axum::Router;
use axum::routing::{get, post};
use serde::Deserialize;

use crate::WebState;

/// Pages behind the access rule.
pub fn routes() -> Router<WebState> {
    Router::new()
        .route("/app", get(people::page))
        .route("/app/people/{id}", get(person::page))
        .route("/app/people/{id}/settings", post(person::settings))
        .route(
            "/app/people/{id}/memory/{item}/delete",
            post(person::forget),
        )
        .route("/app/calls", get(calls::page))
        .route("/app/calls/{sid}", get(call::page))
        .route("/app/calls/{sid}/audio.wav", get(call::audio))
        .route("/app/live", get(live::page))
        .route("/app/live/events", get(live::events))
        .route("/app/alerts", get(alerts::page))
        .route("/app/alerts/{id}/ack", post(alerts::ack))
        .route("/app/talk", get(talk::page))
        .route("/app/talk/ticket", post(talk::ticket))
        .route("/app/logout", post(login::logout))
}

/// Pages anyone may load: the login form, the language switch, the stylesheet and script.
pub fn open_routes() -> Router<WebState> {
    Router::new()
        .route("/app/login", get(login::form).post(login::submit))
        .route("/app/lang/{code}", get(login::switch_lang))
        .route("/app/assets/app.css", get(assets::css))
        .route("/app/assets/live.js", get(assets::live_js))
        .route("/app/assets/talk.js", get(assets::talk_js))
}

/// Every form's CSRF field.
#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    pub csrf: String,
}
