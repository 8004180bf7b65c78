//! Turn detection on real synthesized speech, through the same µ-law path as a phone call.

use haru_audio::{decode_wav_mono, mulaw, resample};
use haru_turn::{TurnConfig, TurnDetector, TurnEvent};

fn fixture(name: &str) -> Vec<i16> {
    let path = format!("{}/../../fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let pcm = decode_wav_mono(&bytes).unwrap();
    resample(&pcm.samples, pcm.rate, 8000).unwrap()
}

fn silence(ms: usize) -> Vec<i16> {
    vec![0; ms * 8]
}

/// Sends audio through µ-law (as Twilio does) in 20 ms frames and collects events.
fn run(det: &mut TurnDetector, audio: &[i16]) -> Vec<TurnEvent> {
    let mut events = Vec::new();
    for frame in audio.chunks(160) {
        let coded = mulaw::encode(frame);
        det.push_8k(&mulaw::decode(&coded), &mut events);
    }
    events
}

fn ended(events: &[TurnEvent]) -> Vec<(u32, usize)> {
    events
        .iter()
        .filter_map(|e| match e {
            TurnEvent::TurnEnded {
                voiced_ms, audio, ..
            } => Some((*voiced_ms, audio.len())),
            _ => None,
        })
        .collect()
}

#[test]
fn one_utterance_gives_exactly_one_turn_after_the_silence() {
    let mut det = TurnDetector::new(TurnConfig::default());
    let speech = fixture("en-walk.wav");
    let mut audio = silence(500);
    audio.extend(&speech);
    // Not yet ended right after speech stops.
    let mut events = run(&mut det, &audio);
    assert!(events.contains(&TurnEvent::SpeechStarted), "{events:?}");
    assert!(ended(&events).is_empty());
    events.extend(run(&mut det, &silence(800)));
    let turns = ended(&events);
    assert_eq!(turns.len(), 1, "{events:?}");
    let (voiced, samples) = turns[0];
    let speech_ms = speech.len() as u32 / 8;
    assert!(
        voiced > 1000 && voiced <= speech_ms + 100,
        "voiced {voiced} of {speech_ms}"
    );
    // The utterance audio (16 kHz) covers the speech plus pre-roll, not the trailing silence.
    let audio_ms = samples as u32 / 16;
    assert!(
        audio_ms >= voiced && audio_ms < speech_ms + 600,
        "audio {audio_ms} ms"
    );
    assert!(events.iter().any(|e| matches!(e, TurnEvent::Paused { .. })));
}

#[test]
fn speculative_audio_equals_final_audio_when_caller_stays_silent() {
    let mut det = TurnDetector::new(TurnConfig::default());
    let mut audio = fixture("en-dentist.wav");
    audio.extend(silence(1000));
    let events = run(&mut det, &audio);
    let paused: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            TurnEvent::Paused { audio, .. } => Some(audio.clone()),
            _ => None,
        })
        .collect();
    let last_paused = paused.last().expect("a pause before the end");
    let Some(TurnEvent::TurnEnded { audio, forced, .. }) = events.last() else {
        panic!("{events:?}")
    };
    assert!(!forced);
    assert_eq!(audio, last_paused);
}

#[test]
fn short_noise_does_not_start_a_turn() {
    let mut det = TurnDetector::new(TurnConfig::default());
    // A 40 ms click/noise burst then silence.
    let mut audio = silence(300);
    audio.extend((0..320).map(|i| if i % 2 == 0 { 20000 } else { -20000 }));
    audio.extend(silence(1000));
    let events = run(&mut det, &audio);
    assert!(!events.contains(&TurnEvent::SpeechStarted), "{events:?}");
    assert!(ended(&events).is_empty());
}

#[test]
fn a_pause_shorter_than_end_silence_does_not_split_the_utterance() {
    let mut det = TurnDetector::new(TurnConfig::default());
    let mut audio = fixture("en-walk.wav");
    audio.extend(silence(350));
    audio.extend(fixture("en-dentist.wav"));
    audio.extend(silence(900));
    let events = run(&mut det, &audio);
    assert_eq!(ended(&events).len(), 1, "{events:?}");
    // The speculative pause was retracted when speech resumed.
    assert!(
        events
            .iter()
            .any(|e| matches!(e, TurnEvent::Resumed { after_ms } if *after_ms >= 150)),
        "{events:?}"
    );
}

#[test]
fn a_long_pause_gives_two_turns() {
    let mut det = TurnDetector::new(TurnConfig::default());
    let mut audio = fixture("en-walk.wav");
    audio.extend(silence(1200));
    audio.extend(fixture("ko-weather.wav"));
    audio.extend(silence(900));
    let events = run(&mut det, &audio);
    assert_eq!(ended(&events).len(), 2, "{events:?}");
}

#[test]
fn very_short_speech_is_discarded_not_a_turn() {
    let cfg = TurnConfig {
        min_utterance_ms: 2500,
        ..TurnConfig::default()
    };
    let mut det = TurnDetector::new(cfg);
    let mut audio = fixture("en-goodbye.wav");
    audio.extend(silence(900));
    let events = run(&mut det, &audio);
    assert!(ended(&events).is_empty(), "{events:?}");
    assert!(
        events
            .iter()
            .any(|e| matches!(e, TurnEvent::Discarded { .. }))
    );
}

#[test]
fn max_utterance_forces_a_turn_end() {
    let cfg = TurnConfig {
        max_utterance_ms: 1000,
        ..TurnConfig::default()
    };
    let mut det = TurnDetector::new(cfg);
    let events = run(&mut det, &fixture("ko-weather.wav"));
    assert!(
        events
            .iter()
            .any(|e| matches!(e, TurnEvent::TurnEnded { forced: true, .. })),
        "{events:?}"
    );
}
