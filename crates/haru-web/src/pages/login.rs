//! Log in with the operator token, log out, switch the language.

use std::time::Duration;

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{DOCTYPE, html};
use serde::Deserialize;

use crate::auth::Mode;
use crate::i18n::{LANG_COOKIE, Lang};
use crate::{Ctx, WebError, WebState};

#[derive(Deserialize, Default)]
pub struct NextQuery {
    #[serde(default)]
    next: Option<String>,
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    next: Option<String>,
}

/// Only a dashboard path may follow a login: never another site (`//evil`, `/\evil`).
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if (n == "/app" || n.starts_with("/app/") || n.starts_with("/app?"))
                && !n.contains('\\')
                && !n.starts_with("//")
                && !n.chars().any(char::is_control) =>
        {
            n.to_string()
        }
        _ => "/app".to_string(),
    }
}

/// A path as a query value.
pub fn encode_next(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'/' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn login_page(lang: Lang, next: &str, wrong: bool) -> maud::Markup {
    let t = lang.t();
    html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (t.login) " · haru" }
                link rel="stylesheet" href="/app/assets/app.css";
            }
            body {
                main.narrow {
                    h1 { (t.login_title) }
                    form.card.login method="post" action="/app/login" {
                        p.muted { (t.login_hint) }
                        @if wrong { p.error role="alert" { (t.login_wrong) } }
                        label for="token" { (t.token) }
                        input #token type="password" name="token" autocomplete="current-password" required autofocus;
                        input type="hidden" name="next" value=(next);
                        button type="submit" { (t.login) }
                    }
                    p { a href=(format!("/app/lang/{}?next={}", lang.other().code(), encode_next(&format!("/app/login?next={next}")))) { (lang.other().t().lang_name) } }
                }
            }
        }
    }
}

pub async fn form(
    State(st): State<WebState>,
    headers: HeaderMap,
    Query(q): Query<NextQuery>,
) -> Response {
    let lang = Lang::from_headers(&headers);
    let next = safe_next(q.next.as_deref());
    match st.gate.mode() {
        Mode::Off => WebError::new(StatusCode::FORBIDDEN, lang.t().dashboard_off).into_response(),
        Mode::LocalOnly => Redirect::to(&next).into_response(),
        Mode::Token(_) => login_page(lang, &next, false).into_response(),
    }
}

pub async fn submit(
    State(st): State<WebState>,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Response {
    let lang = Lang::from_headers(&headers);
    let next = safe_next(f.next.as_deref());
    if !matches!(st.gate.mode(), Mode::Token(_)) {
        return WebError::new(StatusCode::FORBIDDEN, lang.t().dashboard_off).into_response();
    }
    if crate::auth::cross_origin(&headers) {
        return WebError::forbidden(lang).into_response();
    }
    if !st.gate.token_matches(&f.token) {
        tracing::warn!("dashboard: a login with a wrong token");
        // Slows guessing; the token's length makes guessing hopeless anyway.
        tokio::time::sleep(Duration::from_millis(300)).await;
        return (StatusCode::UNAUTHORIZED, login_page(lang, &next, true)).into_response();
    }
    let session = st.gate.new_session_now();
    (
        StatusCode::SEE_OTHER,
        [
            (header::SET_COOKIE, st.gate.session_cookie(&session)),
            (
                header::LOCATION,
                next.parse()
                    .unwrap_or(header::HeaderValue::from_static("/app")),
            ),
        ],
    )
        .into_response()
}

pub async fn logout(
    State(st): State<WebState>,
    ctx: Ctx,
    Form(f): Form<super::CsrfForm>,
) -> Response {
    if !ctx.viewer.csrf_ok(&f.csrf) {
        return WebError::forbidden(ctx.lang).into_response();
    }
    (
        StatusCode::SEE_OTHER,
        [
            (header::SET_COOKIE, st.gate.cleared_session_cookie()),
            (
                header::LOCATION,
                header::HeaderValue::from_static("/app/login"),
            ),
        ],
    )
        .into_response()
}

/// `GET /app/lang/{ko|en}?next=...`: harmless without a session (it only picks words).
pub async fn switch_lang(
    State(st): State<WebState>,
    headers: HeaderMap,
    Path(code): Path<String>,
    Query(q): Query<NextQuery>,
) -> Response {
    let Some(lang) = Lang::parse(&code) else {
        return WebError::not_found(Lang::from_headers(&headers)).into_response();
    };
    // Back to the page the switch was on (same origin only), else the next given.
    let back = q.next.clone().or_else(|| {
        headers
            .get(header::REFERER)
            .and_then(|v| v.to_str().ok())
            .and_then(|r| r.split_once("://").map(|(_, rest)| rest))
            .and_then(|rest| rest.find('/').map(|i| rest[i..].to_string()))
    });
    let to = safe_next(back.as_deref());
    (
        StatusCode::SEE_OTHER,
        [
            (
                header::SET_COOKIE,
                st.gate
                    .cookie_header(LANG_COOKIE, lang.code(), 365 * 24 * 3600),
            ),
            (
                header::LOCATION,
                to.parse()
                    .unwrap_or(header::HeaderValue::from_static("/app")),
            ),
        ],
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_dashboard_paths_follow_a_login() {
        assert_eq!(safe_next(Some("/app/people/p1")), "/app/people/p1");
        assert_eq!(safe_next(Some("/app?x=1")), "/app?x=1");
        assert_eq!(safe_next(Some("//evil.example/app")), "/app");
        assert_eq!(safe_next(Some("https://evil.example/app")), "/app");
        assert_eq!(safe_next(Some("/app/\\evil")), "/app");
        assert_eq!(safe_next(Some("/application")), "/app");
        assert_eq!(safe_next(None), "/app");
        assert_eq!(
            encode_next("/app/calls?x=1&y=2"),
            "/app/calls%3Fx%3D1%26y%3D2"
        );
    }
}
