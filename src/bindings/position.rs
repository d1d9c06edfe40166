//! `LINE:COL` of byte offsets in one file, in logarithmic time per lookup.
//!
//! Why: validation names the position of every host and connection (for "first defined at"
//! messages), so [`Position::of`], which scans the file from its start, made loading
//! quadratic: 20,000 connections took 13 s. The index is built once per file, in linear time.

use crate::config::Position;

/// Bytes per block of the character-count index: a lookup counts at most this many bytes.
const BLOCK: usize = 64;

/// Line starts and a per-block character count of one source text.
pub(super) struct LineIndex<'a> {
    src: &'a [u8],
    /// Byte offset of the start of every line; the first is 0.
    line_starts: Vec<usize>,
    /// `chars[k]`: the number of characters in `src[..k * BLOCK]`.
    chars: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    pub(super) fn new(src: &'a str) -> LineIndex<'a> {
        let bytes = src.as_bytes();
        let mut line_starts = vec![0];
        line_starts.extend(
            bytes
                .iter()
                .enumerate()
                .filter(|&(_, &b)| b == b'\n')
                .map(|(i, _)| i + 1),
        );
        let mut chars = Vec::with_capacity(bytes.len() / BLOCK + 1);
        let mut count = 0;
        chars.push(0);
        for block in bytes.chunks(BLOCK) {
            count += count_chars(block);
            chars.push(count);
        }
        LineIndex {
            src: bytes,
            line_starts,
            chars,
        }
    }

    /// The same as [`Position::of`]`(src, offset)`: 1-based line and column in characters
    /// of byte `offset`, clamped to the end of the text.
    pub(super) fn position(&self, offset: usize) -> Position {
        let offset = offset.min(self.src.len());
        // Lines that start at or before `offset`, less one; a newline at `offset` itself
        // belongs to the line it ends.
        let line = self
            .line_starts
            .partition_point(|&start| start <= offset)
            .max(1);
        let start = self.line_starts.get(line - 1).copied().unwrap_or(0);
        let col = self.chars_before(offset) - self.chars_before(start) + 1;
        Position { line, col }
    }

    /// Characters that start before byte `offset` (`offset <= src.len()`).
    fn chars_before(&self, offset: usize) -> usize {
        let block = offset / BLOCK;
        let base = self.chars.get(block).copied().unwrap_or(0);
        base + self.src.get(block * BLOCK..offset).map_or(0, count_chars)
    }
}

/// Characters starting in `bytes`: every byte that is not a UTF-8 continuation byte.
fn count_chars(bytes: &[u8]) -> usize {
    bytes.iter().filter(|&&b| b & 0xC0 != 0x80).count()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn positions_match_the_scanning_definition_on_examples() {
        let src = "ab\ncdé\n\nxyz é ü\n";
        let index = LineIndex::new(src);
        for offset in 0..=src.len() + 3 {
            assert_eq!(
                index.position(offset),
                Position::of(src, offset),
                "offset {offset}"
            );
        }
        assert_eq!(LineIndex::new("").position(5), Position { line: 1, col: 1 });
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(crate::bindings::fuzz::cases()))]

        #[test]
        fn positions_match_the_scanning_definition(
            src in "[a\n\ré\u{1F600}]{0,300}|(?s).{0,200}",
            offset in 0usize..1_300,
        ) {
            prop_assert_eq!(LineIndex::new(&src).position(offset), Position::of(&src, offset));
        }
    }
}
