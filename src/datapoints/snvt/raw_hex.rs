//! Raw values as hex text (`RAW_HEX`): parsing, printing and the size limit. Separate because
//! the value model, text parsing and the LON byte codec all use it.

use super::MAX_RAW_VALUE_BYTES;
use super::error::Reason;

pub(super) fn parse_hex(text: &str) -> Result<Vec<u8>, Reason> {
    let mut bytes = Vec::new();
    for group in text.split_ascii_whitespace() {
        let digits = group.as_bytes();
        if digits.len() % 2 != 0 {
            return Err(Reason::Hex);
        }
        for pair in digits.chunks_exact(2) {
            let &[hi, lo] = pair else {
                return Err(Reason::Hex);
            };
            let hi = hex_digit(hi).ok_or(Reason::Hex)?;
            let lo = hex_digit(lo).ok_or(Reason::Hex)?;
            bytes.push(hi << 4 | lo);
        }
    }
    if bytes.is_empty() {
        return Err(Reason::Hex);
    }
    if bytes.len() > MAX_RAW_VALUE_BYTES {
        return Err(Reason::RawTooLong { len: bytes.len() });
    }
    Ok(bytes)
}

fn hex_digit(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

pub(super) fn hex_text(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    let mut text = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        text.push(char::from(DIGITS[usize::from(b >> 4)]));
        text.push(char::from(DIGITS[usize::from(b & 0x0F)]));
    }
    text
}
