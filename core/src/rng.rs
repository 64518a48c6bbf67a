//! A seeded generator for the randomized tests beside each parser and view
//! (failures reproduce). cargo-fuzz would need a nightly toolchain; these run
//! in the ordinary suite.

/// xorshift64*: small, seeded, good enough to vary inputs.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[(self.next() % items.len() as u64) as usize]
    }

    /// A string from pieces that matter to the parsers, plus odd characters.
    pub fn text(&mut self, pieces: &[&str]) -> String {
        let len = self.next() % 12;
        (0..len).map(|_| self.pick(pieces).to_string()).collect()
    }
}

pub const PIECES: &[&str] = &[
    "_",
    "__",
    ":",
    "@",
    "/",
    ".",
    "-",
    "sha1:",
    "sha256:",
    "batch",
    "Job",
    "apps",
    "é",
    "ß",
    "漢",
    "\u{202e}",
    "\u{1b}[2J",
    "\n",
    "\t",
    "0",
    "9f1e2d3c4b5a",
    "main",
    "",
    "h",
    "m",
    "s",
    "ms",
    "1e400",
    "999999999999",
    ".5",
];
