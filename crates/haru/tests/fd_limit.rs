//! `haru serve` under a lowered open-files limit (`ulimit -n 256`), flooded with silent
//! connections: the abusive ones are refused or evicted, while `healthz` and a call keep
//! working. The real binary in a child process, on loopback.

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;
use haru_telephony::signature;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test]
async fn with_256_descriptors_a_flood_of_silent_connections_locks_no_one_out() {
    let _ = haru_server::serve::raise_fd_limit();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let db = std::env::temp_dir().join(format!("haru-fd-{}.db", std::process::id()));
    let mut child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg("ulimit -n 256 && exec \"$0\" serve")
        .arg(env!("CARGO_BIN_EXE_haru"))
        .env("HARU_BIND", format!("127.0.0.1:{port}"))
        .env("API_BASE_URL", &base)
        .env("HARU_DATABASE_URL", format!("sqlite:{}", db.display()))
        .env("TWILIO_AUTH_TOKEN", AUTH_TOKEN)
        .env("HARU_GREETING", "")
        .env("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
        .env("HARU_TURN_MODEL", "off")
        .env("HARU_LOG_FORMAT", "json")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("haru serve");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()
        .unwrap();
    let t = Instant::now();
    while http.get(format!("{base}/healthz")).send().await.is_err() {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "haru serve did not start"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A call in progress before the flood.
    let sid = call_sid(50);
    let params: Vec<(String, String)> = [
        ("CallSid", sid.as_str()),
        ("AccountSid", ACCOUNT_SID),
        ("From", "+821012345678"),
        ("CallStatus", "ringing"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let url = format!("{base}/api/twilio/voice");
    let sig = signature::compute(AUTH_TOKEN, &url, &params);
    let twiml = http
        .post(&url)
        .header("X-Twilio-Signature", sig)
        .form(&params)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let (ws_url, stream_params) = parse_twiml(&twiml);
    let mut call = RawStream::open(&ws_url, &sid, &stream_params).await;
    call.media(&[0i16; 160]).await;
    // 600 connections that send nothing: more than the server has descriptors.
    let mut idle = Vec::new();
    for _ in 0..600 {
        if let Ok(Ok(c)) = tokio::time::timeout(
            Duration::from_millis(200),
            tokio::net::TcpStream::connect(("127.0.0.1", port)),
        )
        .await
        {
            idle.push(c);
        }
    }
    // healthz and the call still work.
    for _ in 0..5 {
        let r = http
            .get(format!("{base}/healthz"))
            .send()
            .await
            .expect("healthz during the flood");
        assert_eq!(r.status(), 200);
    }
    for _ in 0..10 {
        call.media(&[0i16; 160]).await;
    }
    assert_eq!(call.closed(Duration::from_millis(300)).await, None);
    let m = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let refused =
        metric(&m, "haru_connections_refused_total") + metric(&m, "haru_slow_clients_total");
    assert!(
        refused >= 100.0,
        "only {refused} abusive connections refused"
    );
    eprintln!(
        "fd flood: {} idle connections opened, {refused} refused or evicted",
        idle.len()
    );
    call.stop().await;
    drop(idle);
    let _ = child.kill().await;
    let _ = std::fs::remove_file(&db);
}
