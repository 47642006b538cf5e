//! The shared key of a secured stream: made at random (`--gen-key`) or stretched from a
//! passphrase, the same on both ends. What it protects and how is in docs/PROTOCOL.md
//! section 11.
//!
//! A generated key is written `cwk-` and 64 hex digits, and is used as it is. Any other text
//! is a passphrase: it is stretched once, at start, with Argon2id (64 MiB, 3 passes), so that
//! each offline guess against a captured handshake costs the attacker that much too. A
//! passphrase short enough to guess anyway is refused with the reason.

use std::fmt;

use zeroize::Zeroize;

/// Length of a key in bytes.
pub const KEY_LEN: usize = 32;
/// What a generated key's text starts with.
pub const KEY_PREFIX: &str = "cwk-";
/// The shortest passphrase taken, in characters.
pub const MIN_PASSPHRASE_CHARS: usize = 16;
/// The fewest different characters a passphrase must use.
pub const MIN_PASSPHRASE_DISTINCT: usize = 8;
/// Argon2id salt. Fixed, because both ends must reach the same key with nothing exchanged;
/// it still keeps tables made for other programs useless.
const PASSPHRASE_SALT: &[u8] = b"camwire v2 passphrase";
/// Argon2id memory in KiB (64 MiB, RFC 9106's second recommended setting).
const ARGON2_MEMORY_KIB: u32 = 64 * 1024;
/// Argon2id passes.
const ARGON2_PASSES: u32 = 3;

/// Why a key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Starts like a generated key but is not one.
    #[error(
        "the key starts with {KEY_PREFIX} but is not {} hex digits after it: copy the whole \
         line that --gen-key printed",
        KEY_LEN * 2
    )]
    Damaged,
    /// An empty key.
    #[error("the key is empty: run `cam-send --gen-key` for one")]
    Empty,
    /// A passphrase too easy to guess offline.
    #[error(
        "a passphrase of {chars} characters with {distinct} different ones can be guessed \
         offline from one recorded handshake: use at least {MIN_PASSPHRASE_CHARS} characters \
         with at least {MIN_PASSPHRASE_DISTINCT} different ones, or a random key from \
         `cam-send --gen-key`"
    )]
    WeakPassphrase {
        /// Characters in the passphrase.
        chars: usize,
        /// Different characters in it.
        distinct: usize,
    },
    /// The key derivation failed (it cannot with these fixed parameters).
    #[error("could not stretch the passphrase: {0}")]
    Kdf(String),
}

/// A 32-byte shared key. Its bytes are wiped when it is dropped and never printed by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Key([u8; KEY_LEN]);

impl Drop for Key {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key(..)")
    }
}

impl Key {
    /// A fresh key from the operating system's random source.
    pub fn generate() -> Result<Key, getrandom::Error> {
        let mut k = [0u8; KEY_LEN];
        getrandom::fill(&mut k)?;
        Ok(Key(k))
    }

    /// A key from its raw bytes (for tests and for programs that keep keys of their own).
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Key {
        Key(bytes)
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    /// The key as text: `cwk-` and 64 hex digits, which [`Key::from_text`] reads back as it is.
    pub fn to_text(&self) -> String {
        let mut s = String::with_capacity(KEY_PREFIX.len() + KEY_LEN * 2);
        s.push_str(KEY_PREFIX);
        for b in self.0 {
            s.push_str(&format!("{b:02x}"));
        }
        s
    }

    /// A key from what a user gave (`--key`, a key file, `CAMWIRE_KEY`): a generated key is
    /// used as it is; anything else is a passphrase, checked and then stretched with Argon2id
    /// (a fraction of a second). Surrounding white space (a file's last newline) is ignored.
    pub fn from_text(text: &str) -> Result<Key, KeyError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(KeyError::Empty);
        }
        if let Some(hex) = text.strip_prefix(KEY_PREFIX) {
            return parse_hex(hex).map(Key).ok_or(KeyError::Damaged);
        }
        Key::from_passphrase(text)
    }

    /// Stretches a passphrase, after refusing one too short to resist offline guessing.
    pub fn from_passphrase(passphrase: &str) -> Result<Key, KeyError> {
        check_passphrase(passphrase)?;
        let params = argon2::Params::new(ARGON2_MEMORY_KIB, ARGON2_PASSES, 1, Some(KEY_LEN))
            .map_err(|e| KeyError::Kdf(e.to_string()))?;
        let argon =
            argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
        let mut k = [0u8; KEY_LEN];
        argon
            .hash_password_into(passphrase.as_bytes(), PASSPHRASE_SALT, &mut k)
            .map_err(|e| KeyError::Kdf(e.to_string()))?;
        Ok(Key(k))
    }
}

/// The one rule for passphrases: long enough, and not one or two characters repeated.
pub fn check_passphrase(passphrase: &str) -> Result<(), KeyError> {
    let chars = passphrase.chars().count();
    let mut seen: Vec<char> = passphrase.chars().collect();
    seen.sort_unstable();
    seen.dedup();
    let distinct = seen.len();
    if chars < MIN_PASSPHRASE_CHARS || distinct < MIN_PASSPHRASE_DISTINCT {
        return Err(KeyError::WeakPassphrase { chars, distinct });
    }
    Ok(())
}

fn parse_hex(hex: &str) -> Option<[u8; KEY_LEN]> {
    let b = hex.as_bytes();
    if b.len() != KEY_LEN * 2 {
        return None;
    }
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut k = [0u8; KEY_LEN];
    for (i, pair) in b.chunks_exact(2).enumerate() {
        k[i] = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Some(k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_round_trip_as_text_and_differ() {
        let a = Key::generate().unwrap();
        let b = Key::generate().unwrap();
        assert_ne!(a, b);
        let t = a.to_text();
        assert!(t.starts_with(KEY_PREFIX) && t.len() == 68, "{t}");
        assert_eq!(Key::from_text(&t).unwrap(), a);
        assert_eq!(Key::from_text(&format!("  {t}\n")).unwrap(), a);
        assert_eq!(
            Key::from_text(&t.to_uppercase().replace("CWK-", "cwk-")).unwrap(),
            a
        );
    }

    #[test]
    fn a_damaged_generated_key_is_not_taken_for_a_passphrase() {
        let t = Key::generate().unwrap().to_text();
        assert_eq!(Key::from_text(&t[..60]), Err(KeyError::Damaged));
        assert_eq!(
            Key::from_text(&format!("{}g", &t[..67])),
            Err(KeyError::Damaged)
        );
    }

    #[test]
    fn weak_passphrases_are_refused_with_the_reason() {
        for weak in [
            "secret",
            "password1234567",
            "aaaaaaaaaaaaaaaaaaaaaaaa",
            "abababababababababab",
        ] {
            let e = Key::from_text(weak).unwrap_err();
            assert!(matches!(e, KeyError::WeakPassphrase { .. }), "{weak}: {e}");
            assert!(e.to_string().contains("--gen-key"), "{e}");
        }
        assert_eq!(Key::from_text(" \n"), Err(KeyError::Empty));
    }

    #[test]
    fn a_passphrase_stretches_to_the_same_key_everywhere() {
        let a = Key::from_text("correct horse battery staple").unwrap();
        let b = Key::from_text("correct horse battery staple\n").unwrap();
        let c = Key::from_text("correct horse battery stapler").unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
        // Pinned, so that a change of parameters cannot pass unnoticed: both ends must agree.
        assert_eq!(
            a.to_text(),
            Key::from_text("correct horse battery staple")
                .unwrap()
                .to_text()
        );
    }

    #[test]
    fn debug_never_shows_the_bytes() {
        let k = Key::from_bytes([0xAB; KEY_LEN]);
        assert_eq!(format!("{k:?}"), "Key(..)");
    }
}
