//! Hex text and short SHA-256 fingerprints, shared by the stages that must link equal secrets
//! (cookies, TLS tickets) without writing them.

use sha2::{Digest, Sha256};

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for &byte in bytes {
        out.push(char::from(HEX_DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(HEX_DIGITS[usize::from(byte & 0x0f)]));
    }
    out
}

/// Hex of the first `prefix_bytes` bytes (at most 32) of the SHA-256 of `secret`: equal secrets
/// give equal fingerprints, and the secret cannot be read back.
pub fn sha256_prefix_hex(secret: &[u8], prefix_bytes: usize) -> String {
    let digest = Sha256::digest(secret);
    hex(&digest[..prefix_bytes.min(digest.len())])
}

/// The fingerprint the reports write for a session token or cookie value: 12 hex digits.
pub fn token_digest(value: &str) -> String {
    sha256_prefix_hex(value.as_bytes(), 6)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_and_prefixes() {
        assert_eq!(hex(&[0x00, 0xab, 0x7f, 0xff]), "00ab7fff");
        assert_eq!(hex(&[]), "");
        // SHA-256("abc") = ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad
        assert_eq!(sha256_prefix_hex(b"abc", 4), "ba7816bf");
        assert_eq!(sha256_prefix_hex(b"abc", 99).len(), 64);
        assert_eq!(token_digest("abc"), "ba7816bf8f01");
    }
}
