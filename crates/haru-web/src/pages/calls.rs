//! Every call, newest first, a page at a time.

use axum::extract::{Query, State};
use haru_store::CallFilter;
use maud::{Markup, html};
use serde::Deserialize;

use crate::layout::{Nav, shell};
use crate::{Ctx, WebError, WebState, fmt};

const PAGE: i64 = 50;

#[derive(Deserialize, Default)]
pub struct PageQuery {
    #[serde(default)]
    offset: Option<i64>,
}

pub async fn page(
    State(st): State<WebState>,
    ctx: Ctx,
    Query(q): Query<PageQuery>,
) -> Result<Markup, WebError> {
    let t = ctx.lang.t();
    let offset = q.offset.unwrap_or(0).clamp(0, 10_000_000);
    let mut calls = st
        .store
        .list_calls(&CallFilter {
            limit: PAGE + 1,
            offset,
            ..Default::default()
        })
        .await
        .map_err(|e| WebError::store(ctx.lang, e))?;
    let more = calls.len() as i64 > PAGE;
    calls.truncate(PAGE as usize);
    let body = html! {
        h1 { (t.calls) }
        @if calls.is_empty() { p.muted { (t.no_calls) } }
        @else {
            table #calls {
                thead { tr { th { (t.started) } th { (t.direction) } th { (t.phone) } th { (t.status) } th { (t.end_reason) } } }
                tbody {
                    @for c in &calls {
                        tr {
                            td { a href={"/app/calls/" (c.call_sid)} { (fmt::local(&c.started_at, st.timezone)) } }
                            td { (c.direction) }
                            td { (c.from_number.as_deref().unwrap_or("—")) " → " (c.to_number.as_deref().unwrap_or("—")) }
                            td { (c.status) }
                            td { (c.end_reason.as_deref().unwrap_or("—")) }
                        }
                    }
                }
            }
        }
        div.pager {
            @if offset > 0 { a href={"/app/calls?offset=" ((offset - PAGE).max(0))} { "← " (t.newer) } }
            @if more { a href={"/app/calls?offset=" (offset + PAGE)} { (t.older) " →" } }
        }
    };
    Ok(shell(&ctx, st.gate.mode(), t.calls, Some(Nav::Calls), body))
}
