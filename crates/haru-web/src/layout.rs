//! The page shell: header with navigation, language switch and logout.

use maud::{DOCTYPE, Markup, html};

use crate::Ctx;
use crate::auth::Mode;

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    People,
    Calls,
    Live,
    Alerts,
    Talk,
}

/// A hidden field with the session's CSRF token: every form has one.
pub fn csrf(ctx: &Ctx) -> Markup {
    html! { input type="hidden" name="csrf" value=(ctx.viewer.csrf); }
}

pub fn shell(ctx: &Ctx, mode: &Mode, title: &str, nav: Option<Nav>, body: Markup) -> Markup {
    let t = ctx.lang.t();
    let other = ctx.lang.other();
    let item = |n: Nav, href: &'static str, label: &'static str| {
        html! {
            a href=(href) class=[(nav == Some(n)).then_some("active")] { (label) }
        }
    };
    html! {
        (DOCTYPE)
        html lang=(ctx.lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · haru" }
                link rel="stylesheet" href="/app/assets/app.css";
            }
            body {
                header.top {
                    a.brand href="/app" { "haru" }
                    nav {
                        (item(Nav::People, "/app", t.people))
                        (item(Nav::Calls, "/app/calls", t.calls))
                        (item(Nav::Live, "/app/live", t.live))
                        (item(Nav::Alerts, "/app/alerts", t.alerts))
                        (item(Nav::Talk, "/app/talk", t.talk))
                    }
                    div.tools {
                        a href=(format!("/app/lang/{}", other.code())) lang=(other.code()) { (other.t().lang_name) }
                        @if matches!(mode, Mode::Token(_)) {
                            form method="post" action="/app/logout" {
                                (csrf(ctx))
                                button.link type="submit" { (t.logout) }
                            }
                        }
                    }
                }
                main { (body) }
            }
        }
    }
}
