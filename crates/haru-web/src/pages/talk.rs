//! Talk to haru from the browser: the microphone streams to the same call session a phone
//! call gets (haru-server's browser transport), and haru's voice plays as it arrives.

use axum::Form;
use axum::Json;
use axum::extract::State;
use maud::{Markup, html};
use serde_json::{Value, json};

use crate::layout::{Nav, csrf, shell};
use crate::{Ctx, WebError, WebState};

pub async fn page(State(st): State<WebState>, ctx: Ctx) -> Markup {
    let t = ctx.lang.t();
    let body = html! {
        h1 { (t.talk) }
        p.muted { (t.talk_hint) }
        section.card #talk data-caller=(t.caller) data-haru=(t.haru)
            data-connecting=(t.talk_connecting) data-in-call=(t.state_in_progress)
            data-ended=(t.talk_ended) data-no-mic=(t.talk_no_mic) {
            form #talk-form method="post" action="/app/talk/ticket" {
                (csrf(&ctx))
                button #call type="submit" { (t.talk_call) }
                " "
                button #hangup type="button" disabled { (t.talk_hangup) }
            }
            p #talk-status role="status" {}
            div.conversation #talk-transcript {}
        }
        script src="/app/assets/talk.js" {}
    };
    shell(&ctx, st.gate.mode(), t.talk, Some(Nav::Talk), body)
}

/// A one-use ticket for `/api/browser/stream`, for a logged-in viewer's form.
pub async fn ticket(
    State(st): State<WebState>,
    ctx: Ctx,
    Form(f): Form<super::CsrfForm>,
) -> Result<Json<Value>, WebError> {
    if !ctx.viewer.csrf_ok(&f.csrf) {
        return Err(WebError::forbidden(ctx.lang));
    }
    let ticket = st.gate.issue_ticket(crate::auth::Gate::now());
    Ok(Json(
        json!({ "ticket": ticket, "stream": "/api/browser/stream" }),
    ))
}
