//! The script guard: haru speaks Korean and English, and small multilingual models drift
//! into Chinese or Japanese mid-answer. Every token that would write a Han ideograph, kana
//! or bopomofo is banned from sampling (logit −∞), including the byte-level tokens that
//! could start one, so no such character can appear however the model spells it.

use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::token::LlamaToken;

use haru_script::is_banned_piece;

/// Every token of `model` the guard bans.
pub fn banned_tokens(model: &LlamaModel) -> Vec<LlamaToken> {
    model
        .tokens(false)
        .filter(|(_, bytes)| is_banned_piece(bytes))
        .map(|(t, _)| t)
        .collect()
}
