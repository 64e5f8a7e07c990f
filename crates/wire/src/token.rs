//! Agent tokens: what an agent presents in its hello, derived from the hub
//! secret and the camera id, so the hub stores no per-camera secret.
//!
//! * `hmac-sha256` (default): lowercase hex of HMAC-SHA256(key = secret,
//!   message = decimal camera id).
//! * `legacy-sha256`: lowercase hex of SHA-256(decimal id ‖ secret), the seed
//!   server's algorithm, so unmodified seed clients keep working.
//!
//! Verification compares in constant time.

use hmac::{KeyInit, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// How a camera's token is derived from the hub secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum TokenScheme {
    #[default]
    #[serde(rename = "hmac-sha256")]
    HmacSha256,
    #[serde(rename = "legacy-sha256")]
    LegacySha256,
}

impl TokenScheme {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenScheme::HmacSha256 => "hmac-sha256",
            TokenScheme::LegacySha256 => "legacy-sha256",
        }
    }
}

/// A scheme name that is neither `hmac-sha256` nor `legacy-sha256`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown token scheme {0:?} (expected \"hmac-sha256\" or \"legacy-sha256\")")]
pub struct UnknownScheme(pub String);

impl std::str::FromStr for TokenScheme {
    type Err = UnknownScheme;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "hmac-sha256" => Ok(TokenScheme::HmacSha256),
            "legacy-sha256" => Ok(TokenScheme::LegacySha256),
            other => Err(UnknownScheme(other.to_owned())),
        }
    }
}

fn raw_token(scheme: TokenScheme, secret: &[u8], camera_id: u32) -> [u8; 32] {
    let id = camera_id.to_string();
    match scheme {
        TokenScheme::HmacSha256 => {
            let mut mac = <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(secret)
                .expect("HMAC accepts keys of any length");
            mac.update(id.as_bytes());
            mac.finalize().into_bytes().into()
        }
        TokenScheme::LegacySha256 => {
            let mut h = Sha256::new();
            h.update(id.as_bytes());
            h.update(secret);
            h.finalize().into()
        }
    }
}

/// The token for `camera_id` under `scheme`: 64 lowercase hex characters.
pub fn make_token(scheme: TokenScheme, secret: &[u8], camera_id: u32) -> String {
    hex::encode(raw_token(scheme, secret, camera_id))
}

/// True when `presented` is the token for `camera_id`. Constant time in the
/// token's content; tokens of the wrong length fail without comparing.
pub fn verify_token(scheme: TokenScheme, secret: &[u8], camera_id: u32, presented: &str) -> bool {
    let expected = make_token(scheme, secret, camera_id);
    let a = expected.as_bytes();
    let b = presented.as_bytes();
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// True when `presented` is the literal token `expected` (one stored rather than
/// derived, as the seed server kept them in its database). Both are hashed first and
/// the digests compared in constant time, so neither the content nor the length of the
/// stored token shows in the time taken.
pub fn literal_token_matches(expected: &str, presented: &str) -> bool {
    let a: [u8; 32] = Sha256::digest(expected.as_bytes()).into();
    let b: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
    bool::from(a.ct_eq(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED_TEST_SECRET: &[u8] = b"NOTsoSECRETsecretUsedFORtESTS1234908";

    #[test]
    fn literal_tokens_match_exactly() {
        let stored = "8e6778b8-not-derivable";
        assert!(literal_token_matches(stored, "8e6778b8-not-derivable"));
        assert!(!literal_token_matches(stored, "8e6778b8-not-derivablE"));
        assert!(!literal_token_matches(stored, "8e6778b8"));
        assert!(!literal_token_matches(stored, ""));
    }

    #[test]
    fn legacy_matches_the_seed_test_vectors() {
        assert_eq!(
            make_token(TokenScheme::LegacySha256, SEED_TEST_SECRET, 1),
            "b5b9aea262709ebde6a9452a790216100c9724a830fec86f4cd242720c6add7e"
        );
        assert_eq!(
            make_token(TokenScheme::LegacySha256, SEED_TEST_SECRET, 2),
            "041b439e55f8209659496220fad608c530c254ff86522fdfac1c7ac1b9257766"
        );
    }

    #[test]
    fn hmac_matches_openssl() {
        // `printf 1 | openssl dgst -sha256 -hmac key`
        assert_eq!(
            make_token(TokenScheme::HmacSha256, b"key", 1),
            "6da91fb91517be1f5cdcf3af91d7d40c717dd638a306157606fb2e584f7ae926"
        );
        // `printf 42 | openssl dgst -sha256 -hmac NOTsoSECRETsecretUsedFORtESTS1234908`
        assert_eq!(
            make_token(TokenScheme::HmacSha256, SEED_TEST_SECRET, 42),
            "cba790be9be5dc21ea47c5a3d1366602bce5a5382cd7192bbbefa881c6a3fc93"
        );
    }

    #[test]
    fn verify_accepts_only_the_right_token() {
        let s = b"secret";
        let good = make_token(TokenScheme::HmacSha256, s, 3);
        assert!(verify_token(TokenScheme::HmacSha256, s, 3, &good));
        assert!(!verify_token(TokenScheme::HmacSha256, s, 4, &good));
        assert!(!verify_token(TokenScheme::LegacySha256, s, 3, &good));
        assert!(!verify_token(TokenScheme::HmacSha256, s, 3, &good[..63]));
        assert!(!verify_token(
            TokenScheme::HmacSha256,
            s,
            3,
            &good.to_uppercase()
        ));
        assert!(!verify_token(TokenScheme::HmacSha256, s, 3, ""));
    }

    #[test]
    fn scheme_names_parse() {
        assert_eq!("hmac-sha256".parse(), Ok(TokenScheme::HmacSha256));
        assert_eq!("legacy-sha256".parse(), Ok(TokenScheme::LegacySha256));
        assert!("sha1".parse::<TokenScheme>().is_err());
    }
}
