//! Turning fuzzer bytes into structured choices, and into the pieces a socket might deliver.

/// Reads values off the front of the fuzzer's bytes; once they run out, every value is zero, so
/// any input (even empty) describes a valid case.
pub struct ByteReader<'a> {
    data: &'a [u8],
}

impl<'a> ByteReader<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        ByteReader { data }
    }

    pub fn u8(&mut self) -> u8 {
        let (&first, rest) = self.data.split_first().unwrap_or((&0, &[]));
        self.data = rest;
        first
    }

    pub fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.u8(), self.u8()])
    }

    pub fn u64(&mut self) -> u64 {
        (0..8).fold(0, |acc, _| (acc << 8) | u64::from(self.u8()))
    }

    pub fn bool(&mut self) -> bool {
        self.u8() & 1 == 1
    }

    /// Up to `len` bytes (fewer when the input runs out).
    pub fn bytes(&mut self, len: usize) -> &'a [u8] {
        let (taken, rest) = self.data.split_at(len.min(self.data.len()));
        self.data = rest;
        taken
    }

    /// Everything not read yet.
    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.data)
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}

/// SplitMix64: a tiny, well-mixed generator for deterministic choices (not for secrets).
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// Seeded from `data`, so a target's choices are a function of its input (reproducible).
    pub fn from_bytes(data: &[u8]) -> Self {
        // FNV-1a.
        let hash = data.iter().fold(0xcbf2_9ce4_8422_2325_u64, |hash, &byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
        });
        SplitMix64(hash)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform-ish in `0..bound` (`bound` > 0).
    pub fn below(&mut self, bound: usize) -> usize {
        (self.next_u64() % bound as u64) as usize
    }
}

/// How a byte stream is cut into reads.
#[derive(Clone, Copy, Debug)]
pub enum Split {
    /// One byte per read: the worst case for any state kept between reads.
    ByteByByte,
    /// Reads of 1 to 64 bytes, chosen from the input itself.
    Random,
}

/// The pieces `data` arrives in under `split`.
pub fn pieces(data: &[u8], split: Split) -> Vec<&[u8]> {
    match split {
        Split::ByteByByte => data.chunks(1).collect(),
        Split::Random => {
            let mut rng = SplitMix64::from_bytes(data);
            let mut rest = data;
            let mut out = Vec::new();
            while !rest.is_empty() {
                let (piece, tail) = rest.split_at((1 + rng.below(64)).min(rest.len()));
                out.push(piece);
                rest = tail;
            }
            out
        }
    }
}
