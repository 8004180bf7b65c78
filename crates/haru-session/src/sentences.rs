//! Cuts a streamed LLM reply into speakable pieces as tokens arrive.
//!
//! A piece ends at a sentence end (. ! ? … 。 ! ? and a newline) followed by whitespace or
//! the end of the stream; a piece that grows past `max_chars` is cut at its last comma
//! or space. The first piece is cut sooner, at a comma or after a few words, so a long
//! first sentence does not delay the first audio.

pub struct SentenceSplitter {
    buf: String,
    max_chars: usize,
    emitted: usize,
}

/// The first piece may end at a clause boundary once it has this many characters: the
/// caller hears the start of the answer while the LLM is still writing its first sentence.
const FIRST_CLAUSE_MIN_CHARS: usize = 12;
/// …or at a word boundary once it has this many. A small local model writes ~10 tokens a
/// second, so waiting for a 40-character Korean sentence costs two seconds of silence; a
/// TTS that streams (Kokoro in haru-local) cuts its own first chunk the same way.
const FIRST_WORDS_MIN_CHARS: usize = 16;

const ENDS: &[char] = &['.', '!', '?', '…', '。', '！', '？', '\n'];
const CLAUSE: &[char] = &[',', '、', '，', ';', ':'];

impl SentenceSplitter {
    pub fn new(max_chars: usize) -> Self {
        Self {
            buf: String::new(),
            max_chars: max_chars.max(8),
            emitted: 0,
        }
    }

    /// Adds a token and returns the pieces it completed.
    pub fn push(&mut self, token: &str) -> Vec<String> {
        self.buf.push_str(token);
        let mut out = Vec::new();
        loop {
            let end = self.sentence_end().or_else(|| {
                (self.emitted == 0 && out.is_empty())
                    .then(|| self.first_clause_end())
                    .flatten()
            });
            if let Some(end) = end {
                let piece: String = self.buf[..end].trim().to_string();
                self.buf.drain(..end);
                if !piece.is_empty() {
                    out.push(piece);
                }
                continue;
            }
            if self.buf.chars().count() > self.max_chars {
                let cut = self.soft_cut();
                let piece = self.buf[..cut].trim().to_string();
                self.buf.drain(..cut);
                if !piece.is_empty() {
                    out.push(piece);
                }
                continue;
            }
            break;
        }
        self.emitted += out.len();
        out
    }

    /// A clause mark followed by whitespace, at least `FIRST_CLAUSE_MIN_CHARS` in, or a
    /// space after `FIRST_WORDS_MIN_CHARS`.
    fn first_clause_end(&self) -> Option<usize> {
        let mut chars = self.buf.char_indices().peekable();
        let mut count = 0;
        while let Some((i, c)) = chars.next() {
            count += 1;
            if count >= FIRST_CLAUSE_MIN_CHARS
                && CLAUSE.contains(&c)
                && chars.peek().is_some_and(|&(_, d)| d.is_whitespace())
            {
                return Some(i + c.len_utf8());
            }
            if count > FIRST_WORDS_MIN_CHARS && c.is_whitespace() {
                return Some(i);
            }
        }
        None
    }

    /// The rest of the text at the end of the stream.
    pub fn finish(&mut self) -> Option<String> {
        let rest = self.buf.trim().to_string();
        self.buf.clear();
        (!rest.is_empty()).then_some(rest)
    }

    /// Byte index just past a sentence end that is followed by whitespace (so "3.5" and
    /// "e.g." mid-token do not split), including any closing quotes.
    fn sentence_end(&self) -> Option<usize> {
        let mut it = self.buf.char_indices().peekable();
        while let Some((i, c)) = it.next() {
            if ENDS.contains(&c) {
                let mut end = i + c.len_utf8();
                // Swallow runs like "?!" or "...".
                while let Some(&(j, d)) = it.peek() {
                    if ENDS.contains(&d) || d == '"' || d == '\'' || d == ')' || d == '”' {
                        end = j + d.len_utf8();
                        it.next();
                    } else {
                        break;
                    }
                }
                match it.peek() {
                    Some(&(_, d)) if d.is_whitespace() => return Some(end),
                    // CJK full stops need no following space.
                    None | Some(_) if matches!(c, '。' | '！' | '？' | '\n') => {
                        return Some(end);
                    }
                    _ => {}
                }
            }
        }
        None
    }

    /// Prefers a clause boundary (comma) in the back two thirds of the window, then the
    /// last space, then a hard cut.
    fn soft_cut(&self) -> usize {
        let limit = self
            .buf
            .char_indices()
            .nth(self.max_chars)
            .map(|(i, _)| i)
            .unwrap_or(self.buf.len());
        let window = &self.buf[..limit];
        let clause = window
            .rfind(CLAUSE)
            .map(|i| i + window[i..].chars().next().map_or(1, char::len_utf8))
            .filter(|&i| i >= limit / 3);
        clause
            .or_else(|| window.rfind(' ').map(|i| i + 1).filter(|&i| i > 0))
            .unwrap_or(limit)
    }
}

/// The answer's first piece split around the word an acknowledgement already says:
/// "네, 날씨가 좋았군요." after the acknowledgement "네." is `(Some("네,"), Some("날씨가
/// 좋았군요."))`, the word as the model wrote it and what is left to speak (`None` when
/// nothing is). The word must stand alone ("네" is not taken from "네가 …").
pub fn split_ack(piece: &str, acks: &[String]) -> (Option<String>, Option<String>) {
    let text = piece.trim();
    for ack in acks {
        let word = ack.trim_matches(|c: char| !c.is_alphanumeric());
        if word.is_empty() {
            continue;
        }
        let Some(rest) = strip_prefix_caseless(text, word) else {
            continue;
        };
        if rest.chars().next().is_some_and(char::is_alphanumeric) {
            continue;
        }
        let tail = rest.trim_start_matches(|c: char| !c.is_alphanumeric());
        let lead = text[..text.len() - tail.len()].trim_end().to_string();
        return (Some(lead), (!tail.is_empty()).then(|| tail.to_string()));
    }
    (None, Some(piece.to_string()))
}

/// `text` after `prefix`, compared without case, char by char.
fn strip_prefix_caseless<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let mut chars = text.char_indices();
    for p in prefix.chars() {
        let (_, c) = chars.next()?;
        if !c.to_lowercase().eq(p.to_lowercase()) {
            return None;
        }
    }
    Some(chars.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split_all(tokens: &[&str], max: usize) -> Vec<String> {
        let mut s = SentenceSplitter::new(max);
        let mut out: Vec<String> = tokens.iter().flat_map(|t| s.push(t)).collect();
        out.extend(s.finish());
        out
    }

    #[test]
    fn korean_and_english_sentences_split_as_they_arrive() {
        let mut s = SentenceSplitter::new(80);
        assert!(s.push("안녕하세요").is_empty());
        assert_eq!(s.push("! 오늘"), vec!["안녕하세요!"]);
        let out = split_all(
            &[
                "안녕하세요",
                "! 오늘 ",
                "기분은 ",
                "어떠세요? ",
                "Good to ",
                "hear. Bye",
            ],
            80,
        );
        assert_eq!(
            out,
            vec![
                "안녕하세요!",
                "오늘 기분은 어떠세요?",
                "Good to hear.",
                "Bye"
            ]
        );
    }

    #[test]
    fn first_sentence_is_emitted_before_the_stream_ends() {
        let mut s = SentenceSplitter::new(80);
        assert!(
            s.push("Hello there.").is_empty(),
            "needs the following space"
        );
        assert_eq!(s.push(" How"), vec!["Hello there."]);
    }

    #[test]
    fn the_first_piece_may_end_at_a_clause_so_speech_starts_sooner() {
        let mut s = SentenceSplitter::new(80);
        assert!(s.push("Oh, ").is_empty(), "too short to speak alone");
        assert_eq!(
            s.push("that sounds lovely, "),
            vec!["Oh, that sounds lovely,"]
        );
        // Later pieces wait for a full sentence.
        assert!(s.push("and then, ").is_empty());
        assert_eq!(s.push("what next? "), vec!["and then, what next?"]);
    }

    #[test]
    fn decimals_do_not_split() {
        assert_eq!(
            split_all(&["It is 3.5 degrees. ", "Brr."], 80),
            vec!["It is 3.5 degrees.", "Brr."]
        );
    }

    #[test]
    fn long_clauses_are_cut_at_a_comma_or_space() {
        let long = "오늘은 아침부터 비가 와서, 우산을 챙겨 나갔는데 버스가 늦게 와서 회사에 조금 늦었고 점심도 제대로 못 먹었어요";
        let out = split_all(&[long], 30);
        assert!(out.len() >= 2, "{out:?}");
        assert!(out.iter().all(|p| p.chars().count() <= 30), "{out:?}");
        assert_eq!(
            out.join(" ").split_whitespace().collect::<Vec<_>>(),
            long.split_whitespace().collect::<Vec<_>>()
        );
        assert!(out[0].ends_with(','), "{out:?}");
    }

    #[test]
    fn cjk_full_stop_needs_no_space() {
        assert_eq!(split_all(&["좋아요。그럼"], 80), vec!["좋아요。", "그럼"]);
    }

    #[test]
    fn the_acknowledged_word_is_not_said_twice() {
        let acks = vec!["네.".to_string(), "I see.".to_string()];
        let split = |p: &str| split_ack(p, &acks);
        let some = |s: &str| Some(s.to_string());
        assert_eq!(
            split("네, 날씨가 좋았군요."),
            (some("네,"), some("날씨가 좋았군요."))
        );
        assert_eq!(
            split("네. 어느 공원에 가셨어요?"),
            (some("네."), some("어느 공원에 가셨어요?"))
        );
        assert_eq!(split("네."), (some("네."), None));
        assert_eq!(
            split("I see, that sounds nice."),
            (some("I see,"), some("that sounds nice."))
        );
        // Not the word itself: kept whole.
        assert_eq!(
            split("네가 말한 그 공원이요?"),
            (None, some("네가 말한 그 공원이요?"))
        );
        assert_eq!(split("내일 뵐게요."), (None, some("내일 뵐게요.")));
        assert_eq!(split_ack("네, 좋아요.", &[]), (None, some("네, 좋아요.")));
    }

    #[test]
    fn a_long_first_sentence_is_cut_after_a_few_words() {
        // Qwen's tokens, a few characters each: the first piece leaves after four words,
        // not when the sentence is done.
        let mut sp = SentenceSplitter::new(80);
        let mut out = Vec::new();
        for t in [
            "산책을",
            " 즐기고",
            " 날씨가",
            " 좋았으면",
            " 정말",
            " 좋은",
            " 일입니다.",
            " 어디",
        ] {
            out.extend(sp.push(t));
        }
        assert_eq!(
            out,
            ["산책을 즐기고 날씨가 좋았으면", "정말 좋은 일입니다."]
        );
        // Only the first piece: later sentences still end at their full stop.
        let pieces = split_all(
            &[
                "짧아요. ",
                "두 번째 문장은 조금 더 길게 이어지는 문장입니다. ",
            ],
            80,
        );
        assert_eq!(
            pieces,
            [
                "짧아요.",
                "두 번째 문장은 조금 더 길게 이어지는 문장입니다."
            ]
        );
    }
}
