//! The bench measures for real: an in-process haru, the fake providers, three calls.

use std::path::PathBuf;

use haru_bench::{BenchOptions, Delays, ServerMode, measure_frame_path, run_bench};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(name)
}

fn opts(server: ServerMode, calls: usize) -> BenchOptions {
    BenchOptions {
        calls,
        turns: 1,
        ramp_ms: Some(100),
        delays: Delays {
            stt_ms: 60,
            llm_first_token_ms: 80,
            llm_tokens_per_sec: 100.0,
            tts_first_byte_ms: 50,
        },
        server,
        caller_wav: fixture("en-walk.wav"),
        progress: false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_calls_in_process_are_measured() {
    let o = opts(ServerMode::InProcess, 3);
    let r = run_bench(&o).await.expect("bench runs");
    assert_eq!(r.calls_completed, 3, "{}", r.table());
    assert_eq!(r.calls_failed, 0);
    assert_eq!(r.turns_answered, 3);
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert_eq!(r.latencies_ms.len(), 3);
    let lat = r.latency_ms.as_ref().expect("latency measured");
    // A reply cannot arrive before the provider chain has run (speculation may hide
    // end-of-turn silence, but not the providers).
    assert!(
        lat.p50 >= o.delays.chain_ms() as f64,
        "p50 {} < provider chain {}",
        lat.p50,
        o.delays.chain_ms()
    );
    assert!(lat.max < 5_000.0, "{}", r.table());
    assert_eq!(r.underrun_ms_total, 0, "{}", r.table());
    assert!(r.peak_concurrent_calls >= 1);

    let u = r.server.as_ref().expect("server usage sampled");
    assert!(u.includes_bench);
    assert!(u.baseline_rss_kb > 0 && u.peak_rss_kb >= u.baseline_rss_kb);
    assert!(u.cpu_ms > 0.0);

    let b = r
        .breakdown
        .as_ref()
        .expect("server timings read from its store");
    assert_eq!(b.turns, 3);
    let stt = b.stt_ms.as_ref().expect("stt timings");
    assert!(stt.min >= o.delays.stt_ms as f64, "{stt:?}");
    let first = b.first_audio_ms.as_ref().expect("first audio timings");
    assert!(first.p50 >= o.delays.chain_ms() as f64, "{first:?}");

    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["calls_completed"], 3);
    let svg = haru_bench::svg::latency_svg("t", &r.latencies_ms);
    assert!(svg.contains("</svg>"));
}

#[tokio::test]
async fn unreachable_url_is_a_clear_error() {
    let err = run_bench(&opts(ServerMode::Url("http://127.0.0.1:1".into()), 1))
        .await
        .unwrap_err();
    let msg = format!("{err:#}");
    assert!(
        msg.contains("cannot reach haru at http://127.0.0.1:1"),
        "{msg}"
    );

    let err = run_bench(&opts(ServerMode::Url("not a url".into()), 1))
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("is not a URL"), "{err:#}");
}

#[tokio::test]
async fn bad_options_are_rejected() {
    let err = run_bench(&opts(ServerMode::InProcess, 0))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("at least 1"), "{err}");

    let mut o = opts(ServerMode::InProcess, 1);
    o.caller_wav = "/nonexistent/x.wav".into();
    let err = run_bench(&o).await.unwrap_err();
    assert!(format!("{err:#}").contains("/nonexistent/x.wav"), "{err:#}");

    let o = opts(
        ServerMode::Child {
            haru_bin: "/nonexistent/haru".into(),
            pin_core: None,
        },
        1,
    );
    let err = run_bench(&o).await.unwrap_err();
    assert!(format!("{err:#}").contains("haru binary"), "{err:#}");
}

#[test]
fn frame_path_runs_real_speech_through_the_detector() {
    let r = measure_frame_path(&[fixture("en-walk.wav")], 1).unwrap();
    assert!(r.frames > 100);
    assert!(r.turn_events > 0, "the VAD saw no speech: {r:?}");
    assert!(r.mean_ns > 0.0 && r.p99_ns >= r.p50_ns);
}
