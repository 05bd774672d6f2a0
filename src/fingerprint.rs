//! Hex text and short SHA-256 fingerprints, shared by the stages that must link equal secrets
//! (cookies, TLS tickets) without writing them; and [`FastHasher`], a cheap hash for in-memory
//! indexes.

use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};

use sha2::{Digest, Sha256};

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

/// The two lowercase hex digits of `byte`.
fn hex_pair(byte: u8) -> [u8; 2] {
    [HEX_DIGITS[usize::from(byte >> 4)], HEX_DIGITS[usize::from(byte & 0x0f)]]
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for &byte in bytes {
        out.extend(hex_pair(byte).map(char::from));
    }
    out
}

/// Hex of the first `prefix_bytes` bytes (at most 32) of the SHA-256 of `secret`: equal secrets
/// give equal fingerprints, and the secret cannot be read back.
pub fn sha256_prefix_hex(secret: &[u8], prefix_bytes: usize) -> String {
    let digest = Sha256::digest(secret);
    hex(&digest[..prefix_bytes.min(digest.len())])
}

/// Bytes of SHA-256 a [`TokenDigest`] shows.
const TOKEN_DIGEST_BYTES: usize = 6;

/// The fingerprint the reports write for a session token or cookie value: the first 12 hex
/// digits of its SHA-256, held in place (no allocation), compared and hashed as the token it
/// stands for.
#[derive(Copy, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TokenDigest([u8; 2 * TOKEN_DIGEST_BYTES]);

impl TokenDigest {
    pub fn of(token: &str) -> Self {
        RECENT_DIGESTS.with(|recent| recent.borrow_mut().digest(token))
    }

    /// The digest itself, not memoised.
    fn compute(token: &str) -> Self {
        let digest = Sha256::digest(token.as_bytes());
        let mut text = [0; 2 * TOKEN_DIGEST_BYTES];
        for (pair, &byte) in text.chunks_exact_mut(2).zip(digest.iter()) {
            pair.copy_from_slice(&hex_pair(byte));
        }
        TokenDigest(text)
    }

    pub fn as_str(&self) -> &str {
        // Only hex digits are ever written into the array.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl fmt::Display for TokenDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for TokenDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenDigest({})", self.as_str())
    }
}

thread_local! {
    /// Digests of the tokens this thread saw lately: a session sends the same cookies with every
    /// request, and SHA-256 of each was 2.5 % of a run on the lab's HAProxy traffic (3 % faster
    /// with this memo, one thread).
    static RECENT_DIGESTS: std::cell::RefCell<RecentDigests> = std::cell::RefCell::new(RecentDigests::default());
}

/// Slots of [`RecentDigests`].
const RECENT_SLOTS: usize = 1024;
/// Longer tokens are digested every time, so the memo holds at most about 0.5 MB a thread.
const RECENT_MAX_LEN: usize = 512;

/// A direct-mapped memo of [`TokenDigest::compute`]: each token has one slot (by
/// [`FastHasher`]), holding the last token seen there and its digest. Tokens from the capture
/// choose their slots, so crafted collisions only cost recomputing: nothing piles up.
#[derive(Default)]
struct RecentDigests {
    /// Empty until the first token, then [`RECENT_SLOTS`] long.
    slots: Vec<Option<(Box<str>, TokenDigest)>>,
}

impl RecentDigests {
    fn digest(&mut self, token: &str) -> TokenDigest {
        if token.len() > RECENT_MAX_LEN {
            return TokenDigest::compute(token);
        }
        if self.slots.is_empty() {
            self.slots.resize(RECENT_SLOTS, None);
        }
        let mut hasher = FastHasher::default();
        hasher.write(token.as_bytes());
        let Some(slot) = self.slots.get_mut((hasher.finish() % RECENT_SLOTS as u64) as usize) else {
            return TokenDigest::compute(token);
        };
        match slot {
            Some((seen, digest)) if **seen == *token => *digest,
            _ => {
                let digest = TokenDigest::compute(token);
                *slot = Some((token.into(), digest));
                digest
            }
        }
    }
}

/// [`TokenDigest`] as text.
pub fn token_digest(value: &str) -> String {
    TokenDigest::of(value).as_str().to_owned()
}

/// FxHash's word-at-a-time mix: several times faster than SipHash on short keys, and not keyed.
/// Only for indexes whose keys the capture cannot choose (a fixed table looked up with any
/// key), or where a collision costs only a comparison: crafted collisions must not be able to
/// pile entries into one bucket.
#[derive(Copy, Clone, Default)]
pub struct FastHasher {
    hash: u64,
}

/// Builds [`FastHasher`]s, for `HashMap<K, V, FastHash>`.
pub type FastHash = BuildHasherDefault<FastHasher>;

impl FastHasher {
    const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(Self::SEED);
    }
}

impl Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut words = bytes.chunks_exact(8);
        for word in &mut words {
            self.add(u64::from_le_bytes(word.try_into().unwrap_or_default()));
        }
        let rest = words.remainder();
        if !rest.is_empty() {
            let mut tail = [0u8; 8];
            for (to, &from) in tail.iter_mut().zip(rest) {
                *to = from;
            }
            // The length tells a short tail from the same bytes followed by zeros.
            self.add(u64::from_le_bytes(tail) ^ ((rest.len() as u64) << 56));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }

    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    fn finish(&self) -> u64 {
        self.hash
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memoised_digests_are_the_digests() {
        let mut recent = RecentDigests::default();
        let long = "x".repeat(RECENT_MAX_LEN + 1);
        // More tokens than slots, each twice: evicted, colliding and remembered ones alike.
        let tokens: Vec<String> = (0..3 * RECENT_SLOTS).map(|i| format!("cadata{i}")).chain([long, String::new()]).collect();
        for token in tokens.iter().chain(&tokens).chain(tokens.iter().rev()) {
            assert_eq!(recent.digest(token), TokenDigest::compute(token), "{token}");
        }
        assert_eq!(recent.slots.len(), RECENT_SLOTS);
        assert!(recent.slots.iter().flatten().all(|(token, digest)| token.len() <= RECENT_MAX_LEN && *digest == TokenDigest::compute(token)));
    }

    #[test]
    fn hex_and_prefixes() {
        assert_eq!(hex(&[0x00, 0xab, 0x7f, 0xff]), "00ab7fff");
        assert_eq!(hex(&[]), "");
        // SHA-256("abc") = ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad
        assert_eq!(sha256_prefix_hex(b"abc", 4), "ba7816bf");
        assert_eq!(sha256_prefix_hex(b"abc", 99).len(), 64);
        assert_eq!(token_digest("abc"), "ba7816bf8f01");
    }

    #[test]
    fn every_byte_has_its_two_hex_digits() {
        let all: Vec<u8> = (0..=255).collect();
        let expected: String = all.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex(&all), expected);
    }

    #[test]
    fn token_digest_in_place() {
        // SHA-256("") = e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
        let empty = TokenDigest::of("");
        assert_eq!(empty.as_str(), "e3b0c44298fc");
        assert_eq!(empty.to_string(), "e3b0c44298fc");
        assert_eq!(format!("{empty:?}"), "TokenDigest(e3b0c44298fc)");
        assert_eq!(TokenDigest::of("abc"), TokenDigest::of("abc"));
        assert_ne!(TokenDigest::of("abc"), TokenDigest::of("abd"));
        assert_eq!(TokenDigest::of("abc").as_str(), sha256_prefix_hex(b"abc", TOKEN_DIGEST_BYTES));
    }

    fn fast_hash(bytes: &[u8]) -> u64 {
        let mut h = FastHasher::default();
        h.write(bytes);
        h.finish()
    }

    #[test]
    fn fast_hash_tells_lengths_and_contents_apart() {
        assert_eq!(fast_hash(b"mail.contoso.test"), fast_hash(b"mail.contoso.test"));
        assert_ne!(fast_hash(b"abc"), fast_hash(b"abc\0"));
        assert_ne!(fast_hash(b"abcdefgh"), fast_hash(b"abcdefgi"));
        assert_ne!(fast_hash(b"abcdefghi"), fast_hash(b"abcdefghj"));
        assert_ne!(fast_hash(b""), fast_hash(b"\0"));
        let mut map: std::collections::HashMap<&str, u32, FastHash> = Default::default();
        map.insert("cadata", 2);
        assert_eq!(map.get("cadata"), Some(&2));
        assert_eq!(map.get("sessionid"), None);
    }
}
