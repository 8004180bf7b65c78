//! The labelled set: caller turns with their mid-turn pauses ("holds") and true ends.
//!
//! Synthesised: espeak-ng Korean and English from the scripts below, holds after
//! connective endings and fillers, lengths from a fixed seed (the same on every machine
//! with the same espeak-ng). Recorded: real people (LibriVox readers, spoken card names
//! and commands, the moonshine-voice clips), holds at their own silences, labelled in
//! `data/eot-real-en.tsv` by `scripts/eot-label-real.py`. Synthetic voices are not people:
//! they rank policies; the recorded part checks the ranking on human speech.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// One turn's script: segments, each spoken, with a hold after every one but the last.
struct Script {
    lang: &'static str,
    segments: &'static [&'static str],
}

const KO: &[&[&str]] = &[
    &["아침에 일어나서", "공원에 산책을 갔어요"],
    &["어제 병원에 갔는데", "의사 선생님이 괜찮다고 하셨어요"],
    &["음", "오늘은 딸이 전화를 했어요"],
    &["점심을 먹고", "텔레비전을 봤어요"],
    &["그래서", "일찍 잤어요"],
    &["비가 오니까", "밖에 못 나갔어요"],
    &["친구랑", "시장에 가서", "과일을 샀어요"],
    &["날씨가 추워서", "집에 있었어요"],
    &["무릎이 좀 아파서", "어", "약을 먹었어요"],
    &["손주가 와서", "같이 놀았어요"],
    &["아침에는 밥을 먹었고요", "오후에는 잤어요"],
    &["그게", "잘 기억이 안 나요"],
    &["노래 교실에 갔는데", "그리고", "사람들이 많았어요"],
    &["요즘 잠을 잘 못 자요", "밤에 자꾸 깨요"],
    &["오늘 기분이 좋아요"],
    &["네"],
    &["동생이랑 통화하면서", "옛날 이야기를 했어요"],
    &["반찬을 만들려고", "장을 봤어요"],
    &["저녁에", "국수를 먹었어요"],
    &["산책을 하다가", "친구를 만났어요"],
];

const EN: &[&[&str]] = &[
    &["I went to the", "um", "the dentist this morning"],
    &["My daughter called", "and we talked for an hour"],
    &["I had lunch with", "my neighbor"],
    &["So", "I stayed home today"],
    &["It was raining", "so I didn't go out"],
    &["I watched the news", "and then I took a nap"],
    &["My knee hurts a little", "but it's okay"],
    &["I'm feeling fine today"],
    &["I went to the market.", "I bought some apples."],
    &["Well", "I don't remember"],
    &["No"],
    &["We played cards", "and I won"],
    &["I was thinking about", "my old friend"],
    &["The doctor said", "I should walk more"],
    &["After breakfast I", "uh", "read the paper"],
    &["My son is coming on Sunday.", "He will bring the kids."],
    &["I cooked some soup", "because it was cold"],
    &["Yes"],
    &["I called my sister and", "we made plans for Friday"],
    &["In the afternoon", "I went for a walk"],
];

fn scripts() -> Vec<Script> {
    let ko = KO.iter().map(|s| Script {
        lang: "ko",
        segments: s,
    });
    let en = EN.iter().map(|s| Script {
        lang: "en",
        segments: s,
    });
    ko.chain(en).collect()
}

/// A labelled turn: 8 kHz PCM (µ-law round trip), the holds and the true end.
pub struct Turn {
    /// The part of the set: `ko` and `en` (synthesised), `en-human` (recorded people).
    pub group: &'static str,
    pub pcm: Vec<i16>,
    /// (start ms, end ms, words spoken before it) of every mid-turn hold.
    pub holds: Vec<(u64, u64, String)>,
    /// Where the last speech ends (ms) and the words of the whole turn.
    pub end_ms: u64,
    pub text: String,
}

/// The phone line: to 8 kHz, through µ-law and back.
fn phone_line(pcm: &[i16], rate: u32) -> Result<Vec<i16>> {
    let pcm = haru_audio::resample(pcm, rate, 8000)?;
    Ok(haru_audio::mulaw::decode(&haru_audio::mulaw::encode(&pcm)))
}

/// After the true end, the line stays quiet while haru decides.
const TAIL_MS: usize = 4000;

/// Hold lengths: 300..1500 ms from a fixed linear congruential sequence (reproducible).
fn hold_lengths(n: usize) -> Vec<u64> {
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    (0..n)
        .map(|_| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            300 + (x >> 33) % 1200
        })
        .collect()
}

fn synth(text: &str, lang: &str, cache: &Path) -> Result<Vec<i16>> {
    let voice = if lang == "ko" { "ko" } else { "en-us" };
    let name = format!("{:016x}.wav", fnv(&format!("{voice}|{text}")));
    let path = cache.join(name);
    if !path.is_file() {
        let status = std::process::Command::new("espeak-ng")
            .args(["-v", voice, "-s", "150", "-w"])
            .arg(&path)
            .arg(text)
            .status()
            .context("espeak-ng is needed for the end-of-turn set (apt-get install espeak-ng)")?;
        if !status.success() {
            bail!("espeak-ng failed on {text:?}");
        }
    }
    let wav = haru_audio::decode_wav_mono(&std::fs::read(&path)?)?;
    phone_line(&trim(&wav.samples), wav.rate)
}

/// espeak-ng pads its output with silence; the holds are ours to set.
fn trim(pcm: &[i16]) -> Vec<i16> {
    let loud = |s: &i16| s.unsigned_abs() > 300;
    let start = pcm.iter().position(loud).unwrap_or(0);
    let end = pcm
        .iter()
        .rposition(loud)
        .map(|e| e + 1)
        .unwrap_or(pcm.len());
    pcm[start..end.max(start)].to_vec()
}

fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    })
}

/// Builds (or reads from the cache) the synthesised part of the set.
pub fn synthetic_set(cache: &Path) -> Result<Vec<Turn>> {
    std::fs::create_dir_all(cache)?;
    let scripts = scripts();
    let holds_needed: usize = scripts.iter().map(|s| s.segments.len() - 1).sum();
    let mut lengths = hold_lengths(holds_needed).into_iter();
    let mut turns = Vec::new();
    for s in scripts {
        let mut pcm = vec![0i16; 8 * 400];
        let mut holds = Vec::new();
        let mut said: Vec<&str> = Vec::new();
        for (i, seg) in s.segments.iter().enumerate() {
            pcm.extend(synth(seg, s.lang, cache)?);
            said.push(seg);
            if i + 1 < s.segments.len() {
                let len = lengths.next().unwrap_or(600);
                let start = pcm.len() as u64 / 8;
                holds.push((start, start + len, said.join(" ")));
                pcm.extend(std::iter::repeat_n(0i16, len as usize * 8));
            }
        }
        let end_ms = pcm.len() as u64 / 8;
        pcm.extend(std::iter::repeat_n(0i16, 8 * TAIL_MS));
        turns.push(Turn {
            group: s.lang,
            pcm,
            holds,
            end_ms,
            text: said.join(" "),
        });
    }
    Ok(turns)
}

/// The recorded part: real people reading and answering, labelled by
/// `scripts/eot-label-real.py` (holds are the recordings' own silences; the words before
/// each are Whisper base's transcript of the audio up to that pause).
const HUMAN_LABELS: &str = include_str!("../../data/eot-real-en.tsv");

/// Where the recordings are: Debian's pocketsphinx-testdata and models/fixtures.
pub struct HumanSources {
    pub pocketsphinx: PathBuf,
    pub fixtures: PathBuf,
}

/// The installer's models directory: `HARU_MODELS_DIR`, else the repo's `models/`.
pub fn models_dir() -> PathBuf {
    std::env::var_os("HARU_MODELS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models"))
}

impl Default for HumanSources {
    fn default() -> Self {
        let models = models_dir();
        Self {
            pocketsphinx: std::env::var_os("HARU_POCKETSPHINX_DATA")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("/usr/share/pocketsphinx/test/data")),
            fixtures: models.join("fixtures"),
        }
    }
}

impl HumanSources {
    fn find(&self, name: &str) -> Option<PathBuf> {
        let candidates = [
            self.fixtures.join(name),
            self.pocketsphinx.join(name),
            self.pocketsphinx.join("librivox").join(name),
            self.pocketsphinx.join("cards").join(name),
        ];
        candidates.into_iter().find(|p| p.is_file())
    }

    /// 16 kHz mono: a WAV, or pocketsphinx's headerless `.raw` (16 kHz, s16le).
    fn load(&self, clip: &str) -> Result<Vec<i16>> {
        let (name, sha) = clip
            .split_once(':')
            .with_context(|| format!("label `{clip}`: expected name:sha256-prefix"))?;
        let path = self.find(name).with_context(|| {
            format!(
                "{name} not found in {} or {} (scripts/install-engines.sh installs both)",
                self.fixtures.display(),
                self.pocketsphinx.display()
            )
        })?;
        let bytes = std::fs::read(&path)?;
        let got = sha256_hex(&bytes);
        if !got.starts_with(sha) {
            bail!(
                "{}: sha256 {got} does not match the label's {sha}",
                path.display()
            );
        }
        if name.ends_with(".raw") {
            return Ok(bytes
                .chunks_exact(2)
                .map(|b| i16::from_le_bytes([b[0], b[1]]))
                .collect());
        }
        let wav = haru_audio::decode_wav_mono(&bytes)?;
        Ok(haru_audio::resample(&wav.samples, wav.rate, 16_000)?)
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Reads the labels and builds the recorded turns.
pub fn human_set(src: &HumanSources) -> Result<Vec<Turn>> {
    let mut turns: Vec<Turn> = Vec::new();
    // The turn being read: its id, 16 kHz audio and holds so far.
    type Partial = (String, Vec<i16>, Vec<(u64, u64, String)>);
    let mut current: Option<Partial> = None;
    for (n, line) in HUMAN_LABELS.lines().enumerate() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split('\t').collect();
        let [id, clips, kind, start, end, words] = f[..] else {
            bail!("eot-real-en.tsv line {}: expected 6 fields", n + 1);
        };
        let (start, end): (u64, u64) = (start.parse()?, end.parse()?);
        if current.as_ref().is_none_or(|c| c.0 != id) {
            let mut pcm16 = Vec::new();
            for clip in clips.split(' ') {
                pcm16.extend(src.load(clip)?);
            }
            current = Some((id.to_string(), pcm16, Vec::new()));
        }
        let Some((_, pcm16, holds)) = current.as_mut() else {
            continue;
        };
        match kind {
            "hold" => holds.push((start, end, words.to_string())),
            "end" => {
                let cut = (end as usize * 16).min(pcm16.len());
                let mut pcm = phone_line(&pcm16[..cut], 16_000)?;
                pcm.extend(std::iter::repeat_n(0i16, 8 * TAIL_MS));
                let holds = std::mem::take(holds);
                turns.push(Turn {
                    group: "en-human",
                    pcm,
                    holds,
                    end_ms: start,
                    text: words.to_string(),
                });
                current = None;
            }
            other => bail!("eot-real-en.tsv line {}: kind `{other}`", n + 1),
        }
    }
    Ok(turns)
}

/// The whole set: synthesised Korean and English, then recorded English.
pub fn build_set(cache: &Path, human: &HumanSources) -> Result<Vec<Turn>> {
    let mut set = synthetic_set(cache)?;
    set.extend(human_set(human)?);
    Ok(set)
}

/// Where the synthesised set is cached between runs.
pub fn default_cache() -> PathBuf {
    std::env::var_os("HARU_CACHE_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/haru")))
        .unwrap_or_else(|| PathBuf::from(".cache/haru"))
        .join("eot-set")
}
