//! G.711 µ-law codec (ITU-T G.711, the variant Twilio uses), table-driven.
//!
//! Decoding is a 256-entry table built at compile time; encoding uses the classic
//! exponent lookup table over the biased magnitude, which matches the ITU-T reference
//! encoder bit for bit.

const BIAS: i32 = 0x84;
const CLIP: i32 = 32_635;

const fn decode_one(byte: u8) -> i16 {
    let u = !byte;
    let sign = u & 0x80;
    let exponent = ((u >> 4) & 0x07) as i32;
    let mantissa = (u & 0x0F) as i32;
    let magnitude = (((mantissa << 3) + BIAS) << exponent) - BIAS;
    if sign != 0 {
        -magnitude as i16
    } else {
        magnitude as i16
    }
}

const fn build_decode_table() -> [i16; 256] {
    let mut table = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = decode_one(i as u8);
        i += 1;
    }
    table
}

/// Position of the highest set bit of `(biased magnitude >> 7)`, i.e. the µ-law segment.
const fn build_exponent_table() -> [u8; 256] {
    let mut table = [0u8; 256];
    let mut i = 1;
    while i < 256 {
        let mut e = 0u8;
        let mut v = i >> 1;
        while v > 0 {
            e += 1;
            v >>= 1;
        }
        table[i] = e;
        i += 1;
    }
    table
}

static DECODE: [i16; 256] = build_decode_table();
static EXPONENT: [u8; 256] = build_exponent_table();

/// Decodes one µ-law byte to a linear 16-bit sample.
#[inline]
pub fn decode_sample(byte: u8) -> i16 {
    DECODE[byte as usize]
}

/// Encodes one linear 16-bit sample to µ-law.
#[inline]
pub fn encode_sample(sample: i16) -> u8 {
    let s = sample as i32;
    let sign: u8 = if s < 0 { 0x80 } else { 0 };
    let magnitude = s.unsigned_abs().min(CLIP as u32) as i32 + BIAS;
    let exponent = EXPONENT[((magnitude >> 7) & 0xFF) as usize];
    let mantissa = ((magnitude >> (exponent as i32 + 3)) & 0x0F) as u8;
    !(sign | (exponent << 4) | mantissa)
}

/// Decodes a µ-law buffer, appending linear samples to `out`.
pub fn decode_into(input: &[u8], out: &mut Vec<i16>) {
    out.extend(input.iter().map(|&b| DECODE[b as usize]));
}

/// Decodes a µ-law buffer into a new vector.
pub fn decode(input: &[u8]) -> Vec<i16> {
    let mut out = Vec::with_capacity(input.len());
    decode_into(input, &mut out);
    out
}

/// Encodes linear samples to µ-law.
pub fn encode(input: &[i16]) -> Vec<u8> {
    input.iter().map(|&s| encode_sample(s)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Reference points from the ITU-T G.711 µ-law tables (decoder output values).
    #[test]
    fn decode_matches_itu_reference_values() {
        assert_eq!(decode_sample(0x00), -32124);
        assert_eq!(decode_sample(0x80), 32124);
        assert_eq!(decode_sample(0x7F), 0);
        assert_eq!(decode_sample(0xFF), 0);
        assert_eq!(decode_sample(0x0F), -16764);
        assert_eq!(decode_sample(0x8F), 16764);
        assert_eq!(decode_sample(0x70), -120);
        assert_eq!(decode_sample(0xF0), 120);
        assert_eq!(decode_sample(0x7E), -8);
        assert_eq!(decode_sample(0xFE), 8);
    }

    #[test]
    fn encode_matches_itu_reference_values() {
        assert_eq!(encode_sample(0), 0xFF);
        assert_eq!(encode_sample(i16::MAX), 0x80);
        assert_eq!(encode_sample(i16::MIN), 0x00);
        assert_eq!(encode_sample(-1), 0x7F);
        assert_eq!(encode_sample(8), 0xFE);
        assert_eq!(encode_sample(-8), 0x7E);
        assert_eq!(encode_sample(16764), 0x8F);
    }

    #[test]
    fn every_code_round_trips_through_its_decoded_value() {
        for code in 0u8..=255 {
            let linear = decode_sample(code);
            let again = encode_sample(linear);
            // 0x7F and 0xFF both decode to 0 (negative and positive zero).
            if linear == 0 {
                assert!(again == 0xFF || again == 0x7F);
            } else {
                assert_eq!(again, code, "code {code:#04x} -> {linear}");
            }
        }
    }

    #[test]
    fn quantisation_error_is_bounded_by_segment_step() {
        for s in (-32_000i32..32_000).step_by(7) {
            let s = s as i16;
            let back = decode_sample(encode_sample(s)) as i32;
            let err = (back - s as i32).abs();
            // The largest segment step is 1024; the error is at most half a step plus bias rounding.
            let bound = ((s as i32).abs() / 16).max(8) + 8;
            assert!(err <= bound, "sample {s} decoded {back} err {err}");
        }
    }

    #[test]
    fn buffer_helpers_agree_with_scalar_functions() {
        let pcm: Vec<i16> = (0..320)
            .map(|i| ((i * 97) % 2000 - 1000) as i16 * 16)
            .collect();
        let coded = encode(&pcm);
        assert_eq!(coded.len(), pcm.len());
        let decoded = decode(&coded);
        for (c, d) in coded.iter().zip(&decoded) {
            assert_eq!(decode_sample(*c), *d);
        }
    }
}
