//! Issue "A web dashboard": the dashboard in a real headless Chromium (Debian's
//! `chromium` + `chromium-driver`, driven over WebDriver), against a real haru server with
//! fake providers that has held simulated calls. Logs in, reads the people list, a person,
//! a call's transcript, acknowledges an alert, watches a live call's transcript grow, and
//! checks that a `<script>` said in a call is shown as text and never runs.
//!
//! Needs `scripts/setup.sh` (run by `make test`) to have installed Chromium and
//! ChromeDriver; fails with that instruction otherwise. Screenshots go to
//! `target/dashboard-screenshots/`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use haru_fakes::{FakeOpenAi, FakeOpenAiConfig, ReplyRule, SttRule};
use haru_sim::{SimConfig, Turn, run_call};
use serde_json::json;
use tokio_util::sync::CancellationToken;

const TOKEN: &str = "dashboard-operator-token-0123456789";
/// What the fake STT hears in every turn: an emergency phrase (so each call raises an
/// alert with this quote as evidence) around markup that must stay text.
const SAID: &str = "I fell in the garden <script>window.__xss=1</script> but I am fine now";

struct Driver {
    _child: tokio::process::Child,
    url: String,
}

async fn chromedriver() -> Driver {
    let bin = ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .unwrap_or_else(|| panic!("chromedriver not found (run scripts/setup.sh first)"));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = tokio::process::Command::new(bin)
        .arg(format!("--port={port}"))
        .arg("--allowed-ips=127.0.0.1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start chromedriver");
    let url = format!("http://127.0.0.1:{port}");
    for _ in 0..100 {
        if let Ok(r) = reqwest::get(format!("{url}/status")).await
            && r.status().is_success()
        {
            return Driver { _child: child, url };
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not start on {url}");
}

async fn browser(driver: &Driver, profile: &Path) -> Client {
    browser_with(driver, profile, &[]).await
}

async fn browser_with(driver: &Driver, profile: &Path, extra: &[String]) -> Client {
    let mut args: Vec<String> = [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1280,1000",
        "--lang=en-US",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.push(format!("--user-data-dir={}", profile.display()));
    args.extend(extra.iter().cloned());
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": "/usr/bin/chromium",
            "args": args,
            "prefs": { "intl": { "accept_languages": "en-US,en" } },
        }),
    );
    ClientBuilder::rustls()
        .expect("TLS roots for the WebDriver client")
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a Chromium session")
}

struct Haru {
    base: String,
    running: haru::run::Running,
    _llm: FakeOpenAi,
    shutdown: CancellationToken,
    db: PathBuf,
}

async fn haru() -> Haru {
    let llm = FakeOpenAi::start(FakeOpenAiConfig {
        stt: SttRule::Fixed(SAID.into()),
        reply: ReplyRule::Echo,
        ..FakeOpenAiConfig::fast()
    })
    .await
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let db = std::env::temp_dir().join(format!("haru-dashboard-{}-{n}.db", std::process::id()));
    let _ = std::fs::remove_file(&db);
    let mut env: HashMap<&str, String> = HashMap::new();
    env.insert("API_BASE_URL", format!("http://{addr}"));
    env.insert("HARU_DATABASE_URL", format!("sqlite:{}", db.display()));
    env.insert("OPENAI_BASE_URL", llm.base_url());
    env.insert("HARU_POSTCALL_BASE_URL", llm.base_url());
    env.insert("HARU_STT_LANGUAGE", "en".into());
    env.insert("HARU_GREETING", String::new());
    env.insert("HARU_API_TOKEN", TOKEN.into());
    env.insert("HARU_RECORD_CALLS", "1".into());
    let cfg =
        haru_server::Config::from_source(&haru_server::config::Source(|k| env.get(k).cloned()))
            .unwrap();
    let shutdown = CancellationToken::new();
    let running = haru::run::start(cfg, listener, shutdown.clone())
        .await
        .unwrap();
    Haru {
        base: format!("http://{addr}"),
        running,
        _llm: llm,
        shutdown,
        db,
    }
}

fn sim(base: &str, turns: Vec<Turn>) -> SimConfig {
    SimConfig {
        server: base.to_string(),
        turns,
        greeting_wait: Duration::ZERO,
        reply_settle: Duration::from_millis(800),
        ..SimConfig::default()
    }
}

async fn shot(c: &Client, name: &str) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/dashboard-screenshots");
    let _ = std::fs::create_dir_all(&dir);
    let png = c.screenshot().await.expect("screenshot");
    assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
    std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
}

async fn text_of(c: &Client, css: &str) -> String {
    c.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css}: {e}"))
        .text()
        .await
        .unwrap()
}

async fn count(c: &Client, css: &str) -> usize {
    c.find_all(Locator::Css(css))
        .await
        .map(|v| v.len())
        .unwrap_or(0)
}

async fn no_script_ran(c: &Client) {
    let v = c
        .execute("return typeof window.__xss === 'undefined';", vec![])
        .await
        .unwrap();
    assert_eq!(v, json!(true), "an injected script ran");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_in_a_real_browser() {
    let driver = chromedriver().await;
    let h = haru().await;
    let http = reqwest::Client::new();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let walk = Turn::from_wav_file(root.join("fixtures/en-walk.wav")).unwrap();

    // A person haru knows (matched by the simulated caller's number), and one call.
    let person: serde_json::Value = http
        .post(format!("{}/api/people", h.base))
        .bearer_auth(TOKEN)
        .json(
            &json!({"name": "Ann <b>Lee</b>", "phone": "+15005550006", "language": "en",
                      "timezone": "Asia/Seoul", "call_times": ["10:00"]}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let person_id = person["id"].as_str().expect("person id").to_string();
    let report = run_call(sim(&h.base, vec![walk.clone()]), None)
        .await
        .unwrap();
    let sid = report.call_sid.clone();

    let profile = std::env::temp_dir().join(format!("haru-chromium-{}", std::process::id()));
    let c = browser(&driver, &profile).await;

    // No page without login: /app leads to the login form.
    c.goto(&format!("{}/app/people/{person_id}", h.base))
        .await
        .unwrap();
    c.wait()
        .for_element(Locator::Css("input[name=token]"))
        .await
        .unwrap();
    assert!(
        c.current_url()
            .await
            .unwrap()
            .path()
            .ends_with("/app/login")
    );
    // A wrong token is refused.
    c.find(Locator::Css("input[name=token]"))
        .await
        .unwrap()
        .send_keys("wrong")
        .await
        .unwrap();
    c.find(Locator::Css("form.login button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    text_of(&c, "p.error").await;
    shot(&c, "login").await;
    c.find(Locator::Css("input[name=token]"))
        .await
        .unwrap()
        .send_keys(TOKEN)
        .await
        .unwrap();
    c.find(Locator::Css("form.login button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    // Back where the login started: the person.
    c.wait()
        .for_element(Locator::Css("#diaries"))
        .await
        .unwrap();
    assert!(c.current_url().await.unwrap().path().ends_with(&person_id));
    let h1 = text_of(&c, "h1").await;
    assert!(h1.contains("Ann <b>Lee</b>"), "the name as text: {h1}");

    // People: the person, today's state and the open alert the call raised.
    c.goto(&format!("{}/app", h.base)).await.unwrap();
    let row = text_of(&c, &format!("#people tr[data-person='{person_id}']")).await;
    assert!(row.contains("Ann <b>Lee</b>"), "{row}");
    assert_eq!(count(&c, "#people svg.spark").await, 1);
    let alerts = text_of(
        &c,
        &format!("#people tr[data-person='{person_id}'] .badge.alert"),
    )
    .await;
    assert_eq!(alerts.trim(), "1", "one open alert");
    shot(&c, "people").await;

    // The call: its transcript, the injected markup as text, no script run.
    c.goto(&format!("{}/app/calls/{sid}", h.base))
        .await
        .unwrap();
    let transcript = text_of(&c, "#transcript").await;
    assert!(
        transcript.contains(SAID),
        "the caller's words as said: {transcript}"
    );
    assert!(count(&c, "#transcript .msg.user").await >= 1);
    assert!(count(&c, "#transcript .msg.assistant").await >= 1);
    assert_eq!(
        count(&c, "#transcript script").await,
        0,
        "no script element"
    );
    no_script_ran(&c).await;
    let reason = text_of(&c, "#end-reason").await;
    assert_ne!(reason.trim(), "—", "the end reason is shown");
    // The recording (HARU_RECORD_CALLS=1): both sides, playable in the page's player.
    let wav = h
        .running
        .store
        .recording(&sid)
        .await
        .unwrap()
        .expect("a recording");
    let mono = haru_audio::wav::decode_wav_mono(&wav).unwrap();
    assert_eq!(mono.rate, 8_000);
    assert!(
        mono.duration_ms() > 2_000,
        "{} ms recorded",
        mono.duration_ms()
    );
    assert!(
        mono.samples.iter().any(|&s| s.unsigned_abs() > 1000),
        "not silence"
    );
    let mut ready = json!(0);
    for _ in 0..50 {
        ready = c
            .execute(
                "return document.querySelector('#recording audio').readyState;",
                vec![],
            )
            .await
            .unwrap();
        if ready.as_u64().unwrap_or(0) >= 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        ready.as_u64().unwrap_or(0) >= 1,
        "the player loaded the WAV: {ready}"
    );
    shot(&c, "call").await;

    // Alerts: the evidence quote, then acknowledge it.
    c.goto(&format!("{}/app/alerts", h.base)).await.unwrap();
    let open = text_of(&c, "section.alert[data-state=open]").await;
    assert!(open.contains("I fell in the garden"), "{open}");
    no_script_ran(&c).await;
    c.find(Locator::Css("section.alert[data-state=open] form button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait()
        .for_element(Locator::Css("section.alert[data-state=acked]"))
        .await
        .unwrap();
    assert_eq!(count(&c, "section.alert[data-state=open]").await, 0);
    let acked: serde_json::Value = http
        .get(format!("{}/api/alerts?open=true", h.base))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        acked["items"].as_array().map(Vec::len),
        Some(0),
        "acknowledged in the store"
    );

    // A form without its CSRF token is refused, even with the session cookie.
    let v = c
        .execute(
            "const f = document.createElement('form'); f.method = 'post';
             f.action = '/app/alerts/1/ack'; document.body.appendChild(f); f.submit(); return 1;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(v, json!(1));
    c.wait().for_element(Locator::Css("p.error")).await.unwrap();

    // Live: a call in progress, its transcript growing on the page as it is said.
    c.goto(&format!("{}/app/live", h.base)).await.unwrap();
    c.wait().for_element(Locator::Css("#live")).await.unwrap();
    let base = h.base.clone();
    let live_call = tokio::spawn(async move {
        run_call(
            sim(&base, vec![walk.clone(), walk.clone(), walk.clone(), walk]),
            None,
        )
        .await
    });
    let mut seen = vec![];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while tokio::time::Instant::now() < deadline {
        let n = count(&c, "#live .live-call .msg").await;
        if seen.last() != Some(&n) {
            seen.push(n);
        }
        if seen.iter().filter(|&&n| n > 0).count() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    shot(&c, "live").await;
    assert!(
        seen.iter().filter(|&&n| n > 0).count() >= 3,
        "the live transcript grew in steps: {seen:?}"
    );
    no_script_ran(&c).await;
    live_call.await.unwrap().unwrap();

    // The language switch: Korean words, kept across pages.
    c.goto(&format!("{}/app/lang/ko", h.base)).await.unwrap();
    let nav = text_of(&c, "header.top nav").await;
    assert!(nav.contains("사람들"), "{nav}");

    // Logging out ends the session.
    c.find(Locator::Css("form[action='/app/logout'] button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait()
        .for_element(Locator::Css("input[name=token]"))
        .await
        .unwrap();
    c.goto(&format!("{}/app/alerts", h.base)).await.unwrap();
    c.wait()
        .for_element(Locator::Css("input[name=token]"))
        .await
        .unwrap();

    // Erasing the person erases the recording too.
    let erased = http
        .delete(format!("{}/api/people/{person_id}", h.base))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(erased.status(), 200);
    assert!(h.running.store.recording(&sid).await.unwrap().is_none());

    c.close().await.unwrap();
    h.shutdown.cancel();
    let _ = std::fs::remove_file(&h.db);
    let _ = std::fs::remove_dir_all(&profile);
}

async fn log_in(c: &Client, base: &str, next: &str) {
    c.goto(&format!("{base}{next}")).await.unwrap();
    c.wait()
        .for_element(Locator::Css("input[name=token]"))
        .await
        .unwrap()
        .send_keys(TOKEN)
        .await
        .unwrap();
    c.find(Locator::Css("form.login button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// Talk to haru from the browser: Chromium's fake microphone plays a recorded English turn
/// once (then silence), the page streams it to the browser transport, and haru's answer
/// comes back, is played, and shows in the page's transcript; the call is stored like a
/// phone call (direction `browser`) and ends with the hang-up button.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_from_the_browser_microphone() {
    let driver = chromedriver().await;
    let h = haru().await;
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let wav = root.join("fixtures/en-walk.wav").canonicalize().unwrap();
    let profile = std::env::temp_dir().join(format!("haru-chromium-talk-{}", std::process::id()));
    let c = browser_with(
        &driver,
        &profile,
        &[
            "--use-fake-ui-for-media-stream".into(),
            "--use-fake-device-for-media-stream".into(),
            format!("--use-file-for-fake-audio-capture={}%noloop", wav.display()),
            "--autoplay-policy=no-user-gesture-required".into(),
        ],
    )
    .await;
    log_in(&c, &h.base, "/app/talk").await;
    c.wait()
        .for_element(Locator::Css("#call"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    // The caller's words, then haru's answer, in the page's transcript.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let user = count(&c, "#talk-transcript .msg.user").await;
        let bot = count(&c, "#talk-transcript .msg.assistant").await;
        if user >= 1 && bot >= 1 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no full turn in the browser call (caller {user}, haru {bot}): {}",
            text_of(&c, "#talk").await
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let said = text_of(&c, "#talk-transcript").await;
    assert!(said.contains(SAID), "the caller's words as text: {said}");
    no_script_ran(&c).await;
    shot(&c, "talk").await;
    let sid = c
        .find(Locator::Css("#talk"))
        .await
        .unwrap()
        .attr("data-call-sid")
        .await
        .unwrap()
        .expect("the call's SID on the page");
    c.find(Locator::Css("#hangup"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();

    // Stored like a phone call, and closed by the hang-up.
    let http = reqwest::Client::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let call = loop {
        let call: serde_json::Value = http
            .get(format!("{}/api/calls/{sid}", h.base))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if !call["call"]["ended_at"].is_null() || tokio::time::Instant::now() > deadline {
            break call["call"].clone();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(call["direction"], "browser", "{call}");
    assert!(
        !call["ended_at"].is_null(),
        "the hang-up ended the call: {call}"
    );
    let text = http
        .get(format!("{}/api/calls/{sid}/transcript", h.base))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("I fell in the garden"), "{text}");

    // Without a ticket, or with a used one, no browser call opens.
    let refused = http
        .get(format!("{}/api/browser/stream?ticket=nope", h.base))
        .header("connection", "upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);

    c.close().await.unwrap();
    h.shutdown.cancel();
    let _ = std::fs::remove_file(&h.db);
    let _ = std::fs::remove_dir_all(&profile);
}
