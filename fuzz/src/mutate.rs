//! Deterministic mutations for the bounded run in `cargo test`: the moves a coverage-guided
//! fuzzer makes (bit flips, interesting bytes and lengths, insertions, deletions, splices and
//! dictionary tokens), without the coverage feedback. The dictionaries are libFuzzer's own
//! `dict/<target>.dict` files, so both runs know the same tokens.

use crate::input::SplitMix64;

/// Byte values at the edges of the length and opcode fields the decoders read.
const INTERESTING_BYTES: [u8; 12] = [
    0, 1, 0x0f, 0x10, 0x7d, 0x7e, 0x7f, 0x80, 0x81, 0xc0, 0xfe, 0xff,
];

/// Mutates inputs drawn from a corpus.
pub struct Mutator {
    rng: SplitMix64,
    dictionary: Vec<Vec<u8>>,
    /// Inputs over this length are cut back (libFuzzer's `-max_len`).
    max_len: usize,
}

impl Mutator {
    pub fn new(seed: u64, dictionary: Vec<Vec<u8>>, max_len: usize) -> Self {
        Mutator {
            rng: SplitMix64::new(seed),
            dictionary,
            max_len,
        }
    }

    /// A mutant of one of `corpus`'s inputs (1 to 4 mutations; sometimes spliced with another).
    pub fn mutant(&mut self, corpus: &[Vec<u8>]) -> Vec<u8> {
        let mut data = match corpus.len() {
            0 => Vec::new(),
            n => corpus[self.rng.below(n)].clone(),
        };
        for _ in 0..1 + self.rng.below(4) {
            self.mutate_once(&mut data, corpus);
        }
        data.truncate(self.max_len);
        data
    }

    fn mutate_once(&mut self, data: &mut Vec<u8>, corpus: &[Vec<u8>]) {
        let at = |rng: &mut SplitMix64, len: usize| rng.below(len + 1);
        match self.rng.below(9) {
            0 if !data.is_empty() => {
                let i = self.rng.below(data.len());
                data[i] ^= 1 << self.rng.below(8);
            }
            1 if !data.is_empty() => {
                let i = self.rng.below(data.len());
                data[i] = INTERESTING_BYTES[self.rng.below(INTERESTING_BYTES.len())];
            }
            2 => {
                let i = at(&mut self.rng, data.len());
                let byte = self.rng.next_u64() as u8;
                let count = 1 + self.rng.below(4);
                data.splice(i..i, std::iter::repeat_n(byte, count));
            }
            3 if !data.is_empty() => {
                let start = self.rng.below(data.len());
                let end = start + 1 + self.rng.below((data.len() - start).min(16));
                data.drain(start..end);
            }
            4 if !data.is_empty() => {
                // Repeat a slice: long headers, many frames, deep nesting.
                let start = self.rng.below(data.len());
                let end = start + 1 + self.rng.below((data.len() - start).min(64));
                let copy = data[start..end].to_vec();
                let times = 1 + self.rng.below(8);
                for _ in 0..times {
                    data.splice(end..end, copy.iter().copied());
                }
            }
            5 if !corpus.is_empty() => {
                // Splice: our head, another input's tail.
                let other = &corpus[self.rng.below(corpus.len())];
                let cut = at(&mut self.rng, data.len());
                let from = at(&mut self.rng, other.len());
                data.truncate(cut);
                data.extend_from_slice(&other[from..]);
            }
            6 | 7 if !self.dictionary.is_empty() => {
                let token = &self.dictionary[self.rng.below(self.dictionary.len())];
                let i = at(&mut self.rng, data.len());
                if self.rng.below(2) == 0 || i + token.len() > data.len() {
                    data.splice(i..i, token.iter().copied());
                } else {
                    data[i..i + token.len()].copy_from_slice(token);
                }
            }
            _ if data.len() >= 2 => {
                // An interesting 16-bit value, as a length field would hold it.
                let i = self.rng.below(data.len() - 1);
                let value: u16 =
                    [0, 1, 125, 126, 127, 128, 255, 256, 0x7fff, 0xffff][self.rng.below(10)];
                data[i..i + 2].copy_from_slice(&value.to_be_bytes());
            }
            _ => data.push(self.rng.next_u64() as u8),
        }
    }
}

/// Parses a libFuzzer dictionary: one `"token"` (optionally `name="token"`) per line, `#`
/// comments, escapes `\\`, `\"` and `\xNN`.
pub fn parse_dictionary(text: &str) -> Result<Vec<Vec<u8>>, String> {
    let mut tokens = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = || format!("dictionary line {}: expected \"token\"", number + 1);
        let quoted = line
            .find('"')
            .map(|start| &line[start..])
            .filter(|q| q.len() >= 2 && q.ends_with('"'))
            .ok_or_else(bad)?;
        let inner = &quoted.as_bytes()[1..quoted.len() - 1];
        let mut token = Vec::new();
        let mut i = 0;
        while i < inner.len() {
            match (inner[i], inner.get(i + 1)) {
                (b'\\', Some(b'x')) => {
                    let hex = inner
                        .get(i + 2..i + 4)
                        .and_then(|hex| std::str::from_utf8(hex).ok())
                        .and_then(|hex| u8::from_str_radix(hex, 16).ok())
                        .ok_or_else(bad)?;
                    token.push(hex);
                    i += 4;
                }
                (b'\\', Some(&escaped)) => {
                    token.push(escaped);
                    i += 2;
                }
                (byte, _) => {
                    token.push(byte);
                    i += 1;
                }
            }
        }
        tokens.push(token);
    }
    Ok(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dictionary_escapes_decode() {
        let text = "# comment\n\"a\\\"b\"\nname=\"\\x00\\xff\\\\\"\n";
        assert_eq!(
            parse_dictionary(text).unwrap(),
            vec![b"a\"b".to_vec(), vec![0, 0xff, b'\\']]
        );
        assert!(parse_dictionary("no quotes").is_err());
    }

    #[test]
    fn mutants_are_deterministic_and_bounded() {
        let corpus = vec![b"GET / HTTP/1.1\r\n\r\n".to_vec()];
        let run = |seed| {
            let mut mutator = Mutator::new(seed, vec![b"chunked".to_vec()], 32);
            (0..100)
                .map(|_| mutator.mutant(&corpus))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
        assert!(run(7).iter().all(|m| m.len() <= 32));
    }
}
