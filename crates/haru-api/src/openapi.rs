//! `GET /openapi.json`: a hand-written OpenAPI 3.1 description of the routes. Public:
//! it describes the API, and holds no data.

use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

pub fn router() -> Router {
    Router::new().route("/openapi.json", get(|| async { Json(document()) }))
}

fn op(summary: &str, params: &[Value], ok: Value) -> Value {
    json!({
        "summary": summary,
        "parameters": params,
        "responses": {
            "200": ok,
            "400": { "$ref": "#/components/responses/Error" },
            "401": { "$ref": "#/components/responses/Error" },
            "404": { "$ref": "#/components/responses/Error" }
        }
    })
}

fn path_param(name: &str, ty: &str) -> Value {
    json!({ "name": name, "in": "path", "required": true, "schema": { "type": ty } })
}

fn query(name: &str, ty: &str, description: &str) -> Value {
    json!({ "name": name, "in": "query", "required": false, "schema": { "type": ty },
            "description": description })
}

fn json_ok(schema: Value) -> Value {
    json!({ "description": "OK", "content": { "application/json": { "schema": schema } } })
}

fn obj() -> Value {
    json!({ "type": "object" })
}

fn page() -> Value {
    json!({ "type": "object", "properties": {
        "items": { "type": "array", "items": { "type": "object" } },
        "limit": { "type": "integer" }, "offset": { "type": "integer" },
        "next_offset": { "type": ["integer", "null"] } } })
}

pub fn document() -> Value {
    let sid = path_param("sid", "string");
    let by_sid = [sid.clone()];
    let paging = [
        query("limit", "integer", "1..500, default 50"),
        query("offset", "integer", "default 0"),
    ];
    let mut call_filters = vec![
        query(
            "from",
            "string",
            "YYYY-MM-DD (local day) or RFC 3339; calls started at or after",
        ),
        query(
            "until",
            "string",
            "YYYY-MM-DD (inclusive local day) or RFC 3339 (exclusive)",
        ),
        query("phone", "string", "caller or called number, E.164"),
        query("status", "string", "Twilio call status, e.g. completed"),
    ];
    call_filters.extend(paging.clone());
    let mut job_filters = vec![
        query("state", "string", "pending | running | done | failed"),
        query("kind", "string", "diary | schedules | mood | quality"),
        query("call_sid", "string", "one call's jobs"),
    ];
    job_filters.extend(paging.clone());
    let rerun = json!({ "summary": "Re-run the job (202 queued, 409 while running)",
        "responses": { "202": json_ok(obj()),
                       "404": { "$ref": "#/components/responses/Error" },
                       "409": { "$ref": "#/components/responses/Error" } } });
    let mut rerun_kind = rerun.clone();
    rerun_kind["parameters"] = json!([sid, path_param("kind", "string")]);
    let mut rerun_id = rerun;
    rerun_id["parameters"] = json!([path_param("id", "integer")]);
    json!({
        "openapi": "3.1.0",
        "info": { "title": "haru API", "version": env!("CARGO_PKG_VERSION"),
                  "description": "Calls, transcripts and post-call results (diary, schedules, mood, quality). Bearer token from HARU_API_TOKEN; without one, loopback clients only." },
        "security": [{ "bearer": [] }],
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } },
            "responses": { "Error": { "description": "Error", "content": { "application/json": {
                "schema": { "type": "object", "required": ["error"],
                            "properties": { "error": { "type": "string" } } } } } } }
        },
        "paths": {
            "/api/calls": { "get": op("List calls, newest first", &call_filters, json_ok(page())) },
            "/api/calls/{sid}": { "get": op("A call with its messages, turn timings, status and stream events and jobs", &by_sid, json_ok(obj())) },
            "/api/calls/{sid}/transcript": { "get": op("The transcript as plain text", &by_sid,
                json!({ "description": "OK", "content": { "text/plain": { "schema": { "type": "string" } } } })) },
            "/api/calls/{sid}/diary": { "get": op("The call's diary entry", &by_sid, json_ok(obj())) },
            "/api/calls/{sid}/schedules": { "get": op("Schedules extracted from the call", &by_sid, json_ok(json!({ "type": "array", "items": obj() }))) },
            "/api/calls/{sid}/mood": { "get": op("The caller's mood", &by_sid, json_ok(obj())) },
            "/api/calls/{sid}/quality": { "get": op("Conversation quality report", &by_sid, json_ok(obj())) },
            "/api/calls/{sid}/jobs": { "get": op("The call's post-call jobs", &by_sid, json_ok(json!({ "type": "array", "items": obj() }))) },
            "/api/calls/{sid}/jobs/{kind}/rerun": { "post": rerun_kind },
            "/api/schedules/upcoming": { "get": op("Schedules across calls that have not passed, soonest first", &paging, json_ok(page())) },
            "/api/jobs": { "get": op("Post-call jobs, newest first", &job_filters, json_ok(page())) },
            "/api/jobs/{id}": { "get": op("One job", &[path_param("id", "integer")], json_ok(obj())) },
            "/api/jobs/{id}/rerun": { "post": rerun_id }
        }
    })
}
