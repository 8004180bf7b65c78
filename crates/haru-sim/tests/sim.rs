//! End-to-end calls against the in-test fake peer (loopback only, accelerated clock).

mod fake;

use std::time::Duration;

use haru_sim::{CallEnd, SimConfig, SimEvent, Turn, run_call};

const SPEED: f64 = 4.0;

fn config(server: &str, turns: Vec<Turn>) -> SimConfig {
    SimConfig {
        server: server.to_string(),
        auth_token: Some(fake::TOKEN.into()),
        turns,
        speed: SPEED,
        lead_in: Duration::from_millis(200),
        greeting_wait: Duration::from_millis(200),
        gap: Duration::from_millis(200),
        reply_settle: Duration::from_millis(800),
        turn_timeout: Duration::from_secs(5),
        ..SimConfig::default()
    }
}

fn speech_turn(ms: usize, tail_ms: usize, label: &str) -> Turn {
    Turn::from_pcm(&fake::speech(ms, tail_ms), 8000, label).unwrap()
}

/// Call-time milliseconds between two wall-clock instants.
fn call_ms(from: tokio::time::Instant, to: tokio::time::Instant) -> f64 {
    to.duration_since(from).as_secs_f64() * 1000.0 * SPEED
}

#[tokio::test]
async fn full_conversation_with_greeting_marks_barge_in_and_underrun() {
    let (server, log) = fake::start(fake::Script {
        greeting: true,
        transcript: true,
        ..Default::default()
    })
    .await;
    let mut t2 = speech_turn(500, 100, "two");
    t2.dtmf = Some("1".into());
    let turns = vec![
        speech_turn(600, 100, "one"),
        t2,
        speech_turn(700, 0, "three").with_barge_in(Duration::from_millis(500)),
    ];
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let report = run_call(config(&server, turns), Some(tx)).await.unwrap();
    let mut events = Vec::new();
    while let Some(e) = rx.recv().await {
        events.push(e);
    }
    eprintln!("{}", haru_sim::cli::summary(&report));
    let log = log.lock().unwrap();

    // Webhook: signed over the public URL, Twilio's form fields.
    assert!(log.signature.is_some() && log.signature_valid);
    let form = |k: &str| {
        log.form
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(form("CallSid").as_deref(), Some(report.call_sid.as_str()));
    assert_eq!(form("Direction").as_deref(), Some("inbound"));
    assert_eq!(form("CallStatus").as_deref(), Some("ringing"));
    assert!(report.call_sid.starts_with("CA") && report.call_sid.len() == 34);
    assert!(report.stream_sid.starts_with("MZ") && report.stream_sid.len() == 34);

    // Stream opening: connected, then start carrying the TwiML parameters.
    let ev = log.events();
    assert_eq!(&ev[..2], &["connected", "start"]);
    let start = &log.received[1].1;
    assert_eq!(start["start"]["callSid"], report.call_sid.as_str());
    assert_eq!(start["start"]["streamSid"], report.stream_sid.as_str());
    assert_eq!(start["start"]["customParameters"]["token"], "t0k");
    assert_eq!(start["start"]["customParameters"]["lang"], "ko & en");
    assert_eq!(start["start"]["mediaFormat"]["encoding"], "audio/x-mulaw");
    assert_eq!(start["start"]["tracks"][0], "inbound");

    // Media: continuous 160-byte frames with a running chunk counter and media timestamps.
    let media: Vec<_> = log
        .received
        .iter()
        .filter(|(_, v)| v["event"] == "media")
        .collect();
    for (i, (_, m)) in media.iter().enumerate() {
        assert_eq!(m["media"]["chunk"], (i + 1).to_string());
        assert_eq!(m["media"]["timestamp"], (i * 20).to_string());
        assert_eq!(m["media"]["track"], "inbound");
    }
    let frames_ms = media.len() as f64 * 20.0;
    assert!(
        (frames_ms - report.duration_ms as f64).abs() < 600.0,
        "{frames_ms} ms of frames over a {} ms call",
        report.duration_ms
    );

    // Greeting listened to in full before the first turn.
    assert_eq!(report.greeting.bot_audio_ms, 500);
    assert_eq!(report.greeting.marks_echoed, 1);
    let greet_echo = log.echo_at("greet").unwrap();
    let first_voiced = log
        .received
        .iter()
        .find(|(_, v)| {
            v["event"] == "media" && v["media"]["payload"] != media[0].1["media"]["payload"]
        })
        .map(|(t, _)| *t)
        .unwrap();
    assert!(first_voiced > greet_echo, "caller spoke over the greeting");

    // Turn 1: latency ≈ the fake's 200 ms end-of-speech wait; 1 s of audio, one mark.
    let t1 = &report.turns[0].reply;
    let lat = t1.latency_ms.unwrap();
    assert!((150..=600).contains(&lat), "turn 1 latency {lat}");
    assert_eq!(t1.bot_audio_ms, 1000);
    assert_eq!(t1.marks_echoed, 1);
    assert_eq!(
        t1.clears_received, 0,
        "caller must not talk before r1 is echoed"
    );
    // The mark comes back only once its second of audio has played.
    let played = call_ms(log.sent_at("audio:1").unwrap(), log.echo_at("r1").unwrap());
    assert!(
        (900.0..1700.0).contains(&played),
        "r1 echoed after {played} ms"
    );

    // Turn 2 pressed a key.
    assert!(
        log.received
            .iter()
            .any(|(_, v)| v["event"] == "dtmf" && v["dtmf"]["digit"] == "1")
    );

    // Turn 3 barged into reply 2: the clear emptied the queue and released both marks.
    assert!(report.turns[2].barged_in);
    let r2 = &report.turns[1].reply;
    assert_eq!(r2.bot_audio_ms, 2000);
    assert_eq!(r2.clears_received, 1);
    assert_eq!(r2.marks_echoed, 2);
    let clear = log.sent_at("clear").unwrap();
    let barge = call_ms(log.sent_at("audio:2").unwrap(), clear);
    assert!(
        (450.0..1100.0).contains(&barge),
        "barged in after {barge} ms"
    );
    for m in ["r2a", "r2b"] {
        let echo = log.echo_at(m).unwrap();
        assert!(echo >= clear, "{m} echoed before the clear");
        assert!(
            call_ms(clear, echo) < 300.0,
            "{m} not released promptly by clear"
        );
    }
    let dropped = events.iter().find_map(|e| match e {
        SimEvent::ClearReceived { dropped_ms, .. } => Some(*dropped_ms),
        _ => None,
    });
    assert!(dropped.unwrap() >= 800, "clear dropped {dropped:?} ms");

    // Reply 3 paused mid-way: an underrun, and the played audio excludes what clear dropped.
    let r3 = &report.turns[2].reply;
    assert_eq!(r3.bot_audio_ms, 500);
    assert_eq!(r3.marks_echoed, 1);
    assert!(
        (150..=1000).contains(&report.underrun_ms),
        "underrun {}",
        report.underrun_ms
    );
    assert_eq!(report.bot_audio_total_ms, 4000);
    let played = report.bot_audio_played_ms;
    assert!((2300..=3000).contains(&played), "played {played}");
    let recorded_ms = report.bot_audio.len() as u64 / 8;
    assert_eq!(recorded_ms, played + report.underrun_ms);

    // Hang-up: stop with the call's ids, last.
    assert_eq!(report.ended, CallEnd::CallerHungUp);
    let (_, stop) = log.received.last().unwrap();
    assert_eq!(stop["event"], "stop");
    assert_eq!(stop["stop"]["callSid"], report.call_sid.as_str());
    assert!(
        stop["stop"]["accountSid"]
            .as_str()
            .unwrap()
            .starts_with("AC")
    );

    // Garbage from the server was skipped, not fatal.
    assert_eq!(report.malformed_messages, 2);
    // Transcript fetched after the call.
    let transcript = report.transcript.as_ref().unwrap();
    assert_eq!(transcript.len(), 2);
    assert_eq!(transcript[1].content, "hi there");

    // Live events tell the story in order.
    assert!(matches!(events.first(), Some(SimEvent::Connected { .. })));
    assert!(matches!(
        events.last(),
        Some(SimEvent::Ended {
            how: CallEnd::CallerHungUp,
            ..
        })
    ));
    assert!(events.iter().any(|e| matches!(
        e,
        SimEvent::CallerTurnStarted {
            turn: 3,
            barge_in: true,
            ..
        }
    )));

    // Files.
    let dir = std::env::temp_dir().join(format!("haru-sim-test-{}", report.call_sid));
    report.write_bot_wav(dir.join("bot.wav")).unwrap();
    report.write_json(dir.join("call.json")).unwrap();
    let wav = haru_audio::decode_wav_mono(&std::fs::read(dir.join("bot.wav")).unwrap()).unwrap();
    assert_eq!(wav.samples.len(), report.bot_audio.len());
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("call.json")).unwrap()).unwrap();
    assert_eq!(json["turns"][0]["bot_audio_ms"], 1000);
    assert_eq!(json["ended"], "caller_hung_up");
    assert!(json.get("bot_audio").is_none());
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn server_hanging_up_ends_the_call() {
    let (server, log) = fake::start(fake::Script {
        close_after_reply_1: true,
        ..Default::default()
    })
    .await;
    let turns = vec![speech_turn(500, 100, "one"), speech_turn(500, 100, "two")];
    let report = run_call(config(&server, turns), None).await.unwrap();
    assert_eq!(report.ended, CallEnd::ServerClosed);
    assert_eq!(report.turns[0].reply.bot_audio_ms, 1000);
    assert_eq!(report.turns[1].reply.bot_audio_ms, 0);
    // No transcript endpoint here: not an error.
    assert!(report.transcript.is_none());
    let log = log.lock().unwrap();
    assert!(!log.events().contains(&"stop".to_string()));
}

#[tokio::test]
async fn no_greeting_means_the_caller_speaks_first() {
    let (server, _log) = fake::start(fake::Script::default()).await;
    let started = tokio::time::Instant::now();
    let report = run_call(config(&server, vec![speech_turn(400, 100, "only")]), None)
        .await
        .unwrap();
    assert_eq!(report.greeting.bot_audio_ms, 0);
    assert_eq!(report.turns[0].reply.bot_audio_ms, 1000);
    assert_eq!(report.ended, CallEnd::CallerHungUp);
    // lead-in 200 + wait 200 + 500 speech + ~200 + 1000 + settle 800 ≈ 2.9 s call time.
    let wall = started.elapsed().as_secs_f64();
    assert!(wall < 2.0, "took {wall} s");
}

#[tokio::test]
async fn bad_signature_is_reported_with_status() {
    let (server, _log) = fake::start(fake::Script::default()).await;
    let mut cfg = config(&server, vec![speech_turn(300, 0, "x")]);
    cfg.auth_token = Some("wrong".into());
    let err = format!("{:#}", run_call(cfg, None).await.unwrap_err());
    assert!(err.contains("403"), "{err}");
}

#[tokio::test]
async fn public_base_is_what_gets_signed() {
    let (server, log) = fake::start(fake::Script::default()).await;
    let mut cfg = config(&server, vec![speech_turn(300, 0, "x")]);
    cfg.public_base = Some("https://example.ngrok.app".into());
    // The fake validates against its own loopback URL, so a public base must not match.
    assert!(run_call(cfg, None).await.is_err());
    let log = log.lock().unwrap();
    let expected = haru_telephony::signature::compute(
        fake::TOKEN,
        "https://example.ngrok.app/api/twilio/voice",
        &log.form,
    );
    assert_eq!(log.signature.as_deref(), Some(expected.as_str()));
}

#[tokio::test]
async fn twiml_without_stream_is_a_clear_error() {
    let (server, _log) = fake::start(fake::Script {
        bad_twiml: true,
        ..Default::default()
    })
    .await;
    let err = format!(
        "{:#}",
        run_call(config(&server, vec![speech_turn(300, 0, "x")]), None)
            .await
            .unwrap_err()
    );
    assert!(err.contains("<Connect><Stream>"), "{err}");
}

#[tokio::test]
async fn unreachable_server_is_named() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let server = format!("http://127.0.0.1:{port}");
    let err = run_call(config(&server, vec![speech_turn(300, 0, "x")]), None)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!("cannot reach haru at {server}")),
        "{err}"
    );
}

#[tokio::test]
async fn bad_input_is_rejected_before_calling() {
    let err = run_call(config("http://127.0.0.1:9", vec![]), None)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("no turns"), "{err}");

    let err = format!(
        "{:#}",
        Turn::from_wav_file("/no/such/dir/hello.wav").unwrap_err()
    );
    assert!(err.contains("/no/such/dir/hello.wav"), "{err}");

    let path = std::env::temp_dir().join(format!("haru-sim-corrupt-{}.wav", std::process::id()));
    std::fs::write(&path, b"RIFF nonsense").unwrap();
    let err = format!("{:#}", Turn::from_wav_file(&path).unwrap_err());
    let _ = std::fs::remove_file(&path);
    assert!(err.contains("not a readable WAV"), "{err}");
}

#[tokio::test]
async fn cli_args_build_a_config() {
    use clap::Parser;
    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        sim: haru_sim::cli::SimArgs,
    }
    let dir = std::env::temp_dir().join(format!("haru-sim-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let a = dir.join("a.wav");
    let b = dir.join("b.wav");
    std::fs::write(&a, haru_audio::encode_wav(&fake::speech(300, 0), 16000)).unwrap();
    std::fs::write(&b, haru_audio::encode_wav(&fake::speech(300, 0), 8000)).unwrap();
    let cli = Cli::try_parse_from([
        "sim",
        "--wav",
        a.to_str().unwrap(),
        "--wav",
        b.to_str().unwrap(),
        "--barge-in-ms",
        "700",
        "--speed",
        "2",
    ])
    .unwrap();
    let cfg = cli.sim.to_config().unwrap();
    assert_eq!(cfg.turns.len(), 2);
    assert_eq!(cfg.turns[0].barge_in_after, None);
    assert_eq!(
        cfg.turns[1].barge_in_after,
        Some(Duration::from_millis(700))
    );
    assert_eq!(cfg.turns[0].label, "a.wav");
    assert_eq!(cfg.speed, 2.0);

    let missing = Cli::try_parse_from(["sim", "--wav", "/no/such.wav"]).unwrap();
    let err = format!("{:#}", missing.sim.to_config().unwrap_err());
    assert!(err.contains("/no/such.wav"), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn wss_stream_urls_use_tls() {
    // A TCP peer that is not a TLS server: the handshake must fail cleanly (proving the
    // TLS stack and its crypto provider are wired in), not panic or hang.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            use tokio::io::AsyncWriteExt;
            let _ = tcp.write_all(b"HTTP/1.1 400 nope\r\n\r\n").await;
        }
    });
    let wss = format!("wss://127.0.0.1:{port}/stream");
    let (server, _log) = fake::start(fake::Script {
        stream_url: Some(wss.clone()),
        ..Default::default()
    })
    .await;
    let err = format!(
        "{:#}",
        run_call(config(&server, vec![speech_turn(300, 0, "x")]), None)
            .await
            .unwrap_err()
    );
    assert!(
        err.contains(&format!("cannot open the media stream at {wss}")),
        "{err}"
    );
}

#[tokio::test]
async fn dtmf_only_turn_and_reply_timeout() {
    let (server, log) = fake::start(fake::Script::default()).await;
    let mut cfg = config(
        &server,
        vec![Turn::dtmf("5#"), speech_turn(400, 100, "after")],
    );
    // Long enough for reply 2 (≈200 ms + 1 s of audio + 800 ms settle), short for the test.
    cfg.turn_timeout = Duration::from_secs(3);
    let report = run_call(cfg, None).await.unwrap();
    // The fake does not answer key presses: that reply times out and the script moves on.
    assert!(report.turns[0].reply.timed_out);
    assert_eq!(report.turns[0].reply.bot_audio_ms, 0);
    assert_eq!(report.turns[0].caller_audio_ms, 0);
    assert!(!report.turns[1].reply.timed_out);
    assert_eq!(report.turns[1].reply.bot_audio_ms, 1000);
    let log = log.lock().unwrap();
    let digits: Vec<_> = log
        .received
        .iter()
        .filter(|(_, v)| v["event"] == "dtmf")
        .map(|(_, v)| v["dtmf"]["digit"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(digits, ["5", "#"]);
}

#[tokio::test]
async fn cli_run_writes_wav_and_json() {
    use clap::Parser;
    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        sim: haru_sim::cli::SimArgs,
    }
    let (server, _log) = fake::start(fake::Script::default()).await;
    let dir = std::env::temp_dir().join(format!("haru-sim-clirun-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let wav = dir.join("hello.wav");
    let at_22k = haru_audio::resample(&fake::speech(400, 100), 8000, 22050).unwrap();
    std::fs::write(&wav, haru_audio::encode_wav(&at_22k, 22050)).unwrap();
    let (out_wav, out_json) = (dir.join("o/bot.wav"), dir.join("o/call.json"));
    let p = |p: &std::path::Path| p.to_str().unwrap().to_string();
    let cli = Cli::try_parse_from([
        "sim".to_string(),
        "--server".into(),
        server,
        "--auth-token".into(),
        fake::TOKEN.into(),
        "--wav".into(),
        p(&wav),
        "--speed".into(),
        "4".into(),
        "--greeting-wait-ms".into(),
        "0".into(),
        "--settle-ms".into(),
        "600".into(),
        "--out-wav".into(),
        p(&out_wav),
        "--out-json".into(),
        p(&out_json),
    ])
    .unwrap();
    haru_sim::cli::run(cli.sim).await.unwrap();
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&out_json).unwrap()).unwrap();
    assert_eq!(json["turns"][0]["bot_audio_ms"], 1000);
    let bot = haru_audio::decode_wav_mono(&std::fs::read(&out_wav).unwrap()).unwrap();
    assert_eq!(bot.rate, 8000);
    assert_eq!(bot.samples.len(), 8000);
    let _ = std::fs::remove_dir_all(dir);
}
