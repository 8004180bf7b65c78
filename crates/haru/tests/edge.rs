//! The edge under abuse: one stream per token, once; replayed webhooks; forged
//! identifiers. The real app on a random loopback port.

mod common;

use std::time::Duration;

use common::*;

#[tokio::test]
async fn two_streams_racing_for_one_token_get_one_session() {
    let s = TestServer::start(&[]).await;
    let sid = call_sid(21);
    let (url, params) = s.answer(&sid).await;
    let (mut a, mut b) = tokio::join!(
        RawStream::open(&url, &sid, &params),
        RawStream::open(&url, &sid, &params)
    );
    let (ca, cb) = tokio::join!(
        a.closed(Duration::from_millis(800)),
        b.closed(Duration::from_millis(800))
    );
    let refused = [ca, cb].iter().filter(|c| **c == Some(1008)).count();
    assert_eq!(refused, 1, "closes: {ca:?} {cb:?}");
    let ev = s.store.stream_events(&sid).await.unwrap();
    assert_eq!(ev.iter().filter(|e| e.kind == "started").count(), 1);
    assert!(
        ev.iter()
            .any(|e| e.detail.as_deref() == Some("stream token already used"))
    );
}

#[tokio::test]
async fn a_token_replayed_after_its_call_is_refused() {
    let s = TestServer::start(&[]).await;
    let sid = call_sid(22);
    let (url, params) = s.answer(&sid).await;
    let mut st = RawStream::open(&url, &sid, &params).await;
    st.stop().await;
    let store = s.store.clone();
    let closed_sid = sid.clone();
    eventually("call closed", Duration::from_secs(5), || {
        let (store, sid) = (store.clone(), closed_sid.clone());
        async move { matches!(store.call(&sid).await, Ok(Some(c)) if c.ended_at.is_some()) }
    })
    .await;
    let mut again = RawStream::open(&url, &sid, &params).await;
    assert_eq!(again.closed(Duration::from_secs(3)).await, Some(1008));
}

#[tokio::test]
async fn a_replayed_voice_webhook_issues_no_fresh_token_and_resets_nothing() {
    let s = TestServer::start(&[]).await;
    let sid = call_sid(23);
    let (url, first) = s.answer(&sid).await;
    // Twilio retrying before the stream connects gets the very same token.
    let (_, retry) = s.answer(&sid).await;
    assert_eq!(first, retry);
    let mut st = RawStream::open(&url, &sid, &first).await;
    st.media(&[0i16; 160]).await;
    assert_eq!(st.closed(Duration::from_millis(300)).await, None);
    // Once it streams, a replay is refused and changes nothing.
    let voice = [
        ("CallSid", sid.as_str()),
        ("AccountSid", ACCOUNT_SID),
        ("From", "+821012345678"),
        ("CallStatus", "ringing"),
    ];
    for _ in 0..5 {
        let r = s.post_signed("/api/twilio/voice", &voice).await;
        assert_eq!(r.status(), 409);
    }
    let rec = s.store.call(&sid).await.unwrap().unwrap();
    assert_eq!(rec.status, "in-progress");
    // The real stream is unaffected.
    st.media(&[0i16; 160]).await;
    assert_eq!(st.closed(Duration::from_millis(300)).await, None);
    st.stop().await;
}

#[tokio::test]
async fn forged_identifiers_are_refused_before_anything_is_stored() {
    let s = TestServer::start(&[]).await;
    let long = format!("CA{}", "f".repeat(29_000));
    // The webhook: 400, no call row.
    for bad in [long.as_str(), "CA1", "CAnothex0000000000000000000000000000"] {
        let r = s
            .post_signed(
                "/api/twilio/voice",
                &[("CallSid", bad), ("AccountSid", ACCOUNT_SID)],
            )
            .await;
        assert_eq!(r.status(), 400, "{}", &bad[..bad.len().min(40)]);
        assert!(s.store.call(bad).await.unwrap().is_none());
    }
    let r = s
        .post_signed(
            "/api/twilio/call-status",
            &[("CallSid", long.as_str()), ("CallStatus", "completed")],
        )
        .await;
    assert_eq!(r.status(), 400);
    assert!(s.store.status_events(&long).await.unwrap().is_empty());
    // A stream naming a 29 KB CallSid: closed, nothing written.
    let (url, _) = s.answer(&call_sid(24)).await;
    let before = std::fs::metadata(&s.db_path).map(|m| m.len()).unwrap_or(0);
    for _ in 0..20 {
        let mut ws = RawStream::connect(&url).await;
        send_json(
            &mut ws,
            start_msg(&long, "MZ00000000000000000000000000000001", &[]),
        )
        .await;
        let mut st = RawStream {
            ws,
            stream_sid: "MZ00000000000000000000000000000001".into(),
            call_sid: long.clone(),
        };
        assert_eq!(st.closed(Duration::from_secs(3)).await, Some(1008));
    }
    assert!(s.store.stream_events(&long).await.unwrap().is_empty());
    let after = std::fs::metadata(&s.db_path).map(|m| m.len()).unwrap_or(0);
    assert!(
        after < before + 64 * 1024,
        "db grew {} bytes",
        after - before
    );
}

#[tokio::test]
async fn without_an_operator_token_outbound_dialling_is_unreachable() {
    let tw = fake_twilio().await;
    let s = TestServer::start(&[
        ("TWILIO_ACCOUNT_SID", ACCOUNT_SID),
        ("TWILIO_API_BASE", &tw.base_url()),
        ("TWILIO_PHONE_NUMBER", "+15005550006"),
        ("TEST_PHONE_NUMBER", "+821099998888"),
    ])
    .await;
    // From loopback, with or without the headers a tunnel adds: refused, nothing dialled.
    for forwarded in [false, true] {
        let mut req = reqwest::Client::new().post(s.url("/api/twilio/call"));
        if forwarded {
            req = req.header("X-Forwarded-For", "203.0.113.9");
        }
        assert_eq!(req.send().await.unwrap().status(), 403);
    }
    assert!(tw.requests().is_empty());
}

fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

/// Sends `n` copies of `msg` as fast as the socket takes them, stopping if it closes.
async fn flood(st: &mut RawStream, msg: &str, n: usize) {
    use futures::SinkExt;
    for _ in 0..n {
        if st
            .ws
            .send(tokio_tungstenite::tungstenite::Message::Text(
                msg.to_string().into(),
            ))
            .await
            .is_err()
        {
            return;
        }
    }
}

#[tokio::test]
async fn floods_inside_an_accepted_stream_are_bounded_and_close_it() {
    let s = TestServer::start(&[]).await;
    // A healthy call beside the abusive ones.
    let healthy = call_sid(30);
    let (url, hp) = s.answer(&healthy).await;
    let mut good = RawStream::open(&url, &healthy, &hp).await;
    let rss_before = rss_kb();
    for (n, kind) in [(31u32, "dtmf"), (32, "mark"), (33, "media")] {
        let sid = call_sid(n);
        let (_, params) = s.answer(&sid).await;
        let mut st = RawStream::open(&url, &sid, &params).await;
        let msg = match kind {
            "dtmf" => serde_json::json!({"event":"dtmf","streamSid":st.stream_sid,"dtmf":{"track":"inbound_track","digit":"5"}}),
            "mark" => serde_json::json!({"event":"mark","streamSid":st.stream_sid,"mark":{"name":"m".repeat(20_000)}}),
            _ => {
                // 50× real time: a second of audio every 20 ms.
                let payload = base64::Engine::encode(
                    &base64::engine::general_purpose::STANDARD,
                    [0x7Fu8; 160],
                );
                serde_json::json!({"event":"media","streamSid":st.stream_sid,"media":{"payload":payload}})
            }
        }
        .to_string();
        flood(&mut st, &msg, 20_000).await;
        assert!(
            st.closed(Duration::from_secs(5)).await.is_some(),
            "{kind} flood: stream still open"
        );
        good.media(&[0i16; 160]).await;
        // At most a person's worth of digits is stored.
        let dtmf = s
            .store
            .messages(&sid)
            .await
            .unwrap()
            .into_iter()
            .filter(|m| m.role == haru_store::Role::Dtmf)
            .count();
        assert!(dtmf <= 20, "{kind}: {dtmf} digits stored");
        eprintln!("{kind} flood of 20,000 messages: stream closed, {dtmf} digits stored");
    }
    let grown_mb = rss_kb().saturating_sub(rss_before) / 1024;
    eprintln!("RSS growth over three floods: {grown_mb} MB");
    assert!(grown_mb < 20, "RSS grew {grown_mb} MB");
    // The healthy call never noticed.
    assert_eq!(good.closed(Duration::from_millis(200)).await, None);
    good.stop().await;
}

mod slow {
    use std::time::{Duration, Instant};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    use super::common::*;

    /// How long until the server closes `tcp` (reads until EOF or error), at most `within`.
    async fn closed_after(tcp: &mut TcpStream, within: Duration) -> Option<Duration> {
        let t = Instant::now();
        let mut buf = [0u8; 1024];
        loop {
            match tokio::time::timeout_at((t + within).into(), tcp.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return Some(t.elapsed()),
                Ok(Ok(_)) => continue,
                Err(_) => return None,
            }
        }
    }

    fn limits() -> [(&'static str, &'static str); 2] {
        [
            ("HARU_HEADER_TIMEOUT_MS", "1000"),
            ("HARU_BODY_TIMEOUT_MS", "1000"),
        ]
    }

    #[tokio::test]
    async fn a_silent_connection_is_closed_at_the_header_timeout() {
        let s = TestServer::start(&limits()).await;
        let mut tcp = TcpStream::connect(s.addr).await.unwrap();
        let after = closed_after(&mut tcp, Duration::from_secs(4)).await;
        assert!(after.is_some(), "a silent connection was never closed");
    }

    #[tokio::test]
    async fn headers_sent_a_byte_at_a_time_are_cut_off() {
        let s = TestServer::start(&limits()).await;
        let mut tcp = TcpStream::connect(s.addr).await.unwrap();
        let t = Instant::now();
        let request =
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
        let mut cut = false;
        for b in request {
            if tcp.write_all(&[*b]).await.is_err() {
                cut = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            if t.elapsed() > Duration::from_secs(4) {
                break;
            }
        }
        let closed = cut
            || closed_after(&mut tcp, Duration::from_secs(2))
                .await
                .is_some();
        assert!(closed, "a slow-header client kept its connection");
        assert!(t.elapsed() < Duration::from_secs(5));
    }

    #[tokio::test]
    async fn a_body_sent_a_byte_at_a_time_is_cut_off() {
        let s = TestServer::start(&limits()).await;
        let mut tcp = TcpStream::connect(s.addr).await.unwrap();
        let head = "POST /api/twilio/voice HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 200\r\n\r\n";
        tcp.write_all(head.as_bytes()).await.unwrap();
        let t = Instant::now();
        let mut response = Vec::new();
        while t.elapsed() < Duration::from_secs(4) {
            if tcp.write_all(b"a").await.is_err() {
                break;
            }
            let mut buf = [0u8; 512];
            match tokio::time::timeout(Duration::from_millis(200), tcp.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => break,
                Ok(Ok(n)) => {
                    response.extend_from_slice(&buf[..n]);
                    break;
                }
                Err(_) => {}
            }
        }
        assert!(
            t.elapsed() < Duration::from_secs(3),
            "slow body held for {:?}",
            t.elapsed()
        );
        let text = String::from_utf8_lossy(&response);
        assert!(
            text.is_empty() || text.starts_with("HTTP/1.1 408"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn with_every_slot_held_by_silent_clients_healthz_and_a_call_still_work() {
        let s = TestServer::start(&[
            ("HARU_MAX_CONNECTIONS", "60"),
            ("HARU_MAX_PENDING_CONNECTIONS", "20"),
        ])
        .await;
        // A call already in progress.
        let sid = call_sid(40);
        let (url, params) = s.answer(&sid).await;
        let mut call = RawStream::open(&url, &sid, &params).await;
        call.media(&[0i16; 160]).await;
        // 300 connections that send nothing.
        let mut idle = Vec::new();
        for _ in 0..300 {
            if let Ok(t) = TcpStream::connect(s.addr).await {
                idle.push(t);
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        // healthz answers, again and again.
        for _ in 0..5 {
            let r = reqwest::Client::new()
                .get(s.url("/healthz"))
                .timeout(Duration::from_secs(3))
                .send()
                .await
                .expect("healthz under a silent-connection flood");
            assert_eq!(r.status(), 200);
        }
        // The call goes on.
        for _ in 0..10 {
            call.media(&[0i16; 160]).await;
        }
        assert_eq!(call.closed(Duration::from_millis(300)).await, None);
        call.stop().await;
        drop(idle);
    }
}
