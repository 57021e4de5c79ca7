//! Device-key login (api.md §4 `POST /auth/biometric`): a device enrols a P-256 public key
//! (base64 SPKI) through `PUT /profile/settings`; to log in it asks for a one-time challenge
//! (60 s) and answers with an ECDSA P-256 / SHA-256 signature over the challenge bytes.
//!
//! Only a SHA-256 of the challenge is stored, so a database read cannot replay one.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::pkcs8::DecodePublicKey;
use rand::TryRngCore;

/// How long a challenge can be answered.
pub const CHALLENGE_TTL: Duration = Duration::from_secs(60);
/// Random bytes per challenge.
const CHALLENGE_BYTES: usize = 32;
/// Longest accepted device id (the column's limit).
const MAX_DEVICE_ID: usize = 255;
/// Longest accepted encodings: a P-256 SPKI is 91 bytes (124 base64 characters), a DER
/// signature at most 72 bytes (96); anything far longer is not a key or a signature.
pub const MAX_PUBLIC_KEY_CHARS: usize = 512;
pub const MAX_SIGNATURE_CHARS: usize = 256;
const MAX_CHALLENGE_CHARS: usize = 128;

/// Printable ASCII without spaces, 1–255 characters (`ios-7F3A…`, an Android id, a UUID).
pub fn is_valid_device_id(device_id: &str) -> bool {
    (1..=MAX_DEVICE_ID).contains(&device_id.len())
        && device_id.bytes().all(|b| b.is_ascii_graphic())
}

/// Base64 in any of the common alphabets (standard or URL-safe, padded or not): clients differ.
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD]
        .into_iter()
        .find_map(|engine| engine.decode(text).ok())
}

/// The P-256 key of a base64 SPKI (`SubjectPublicKeyInfo` DER); `None` for anything else.
pub fn parse_public_key(spki_base64: &str) -> Option<VerifyingKey> {
    if spki_base64.len() > MAX_PUBLIC_KEY_CHARS {
        return None;
    }
    VerifyingKey::from_public_key_der(&decode_base64(spki_base64.trim())?).ok()
}

/// A new challenge: its base64url text (sent to the device) and the hash stored for it.
pub fn new_challenge() -> (String, String) {
    let mut bytes = [0u8; CHALLENGE_BYTES];
    rand::rngs::OsRng
        .try_fill_bytes(&mut bytes)
        .expect("the operating system's random source is available");
    let text = URL_SAFE_NO_PAD.encode(bytes);
    let hash = challenge_hash(&text);
    (text, hash)
}

/// Lower-case hex SHA-256 of the challenge text (what the database keeps), hashed like the
/// refresh tokens.
pub fn challenge_hash(challenge: &str) -> String {
    super::tokens::token_hash(challenge)
}

/// The bytes of a challenge this server issued; `None` when it cannot be one.
pub fn challenge_bytes(challenge: &str) -> Option<Vec<u8>> {
    if challenge.len() > MAX_CHALLENGE_CHARS {
        return None;
    }
    decode_base64(challenge).filter(|b| b.len() == CHALLENGE_BYTES)
}

/// Whether `signature` (base64 of a DER or a 64-byte r‖s ECDSA signature) was made over the
/// challenge by the key. The challenge bytes are what is signed; a client that signs the
/// challenge text instead is accepted too (both bind the same single-use challenge).
pub fn signature_matches(
    key: &VerifyingKey,
    challenge: &str,
    challenge_bytes: &[u8],
    signature: &str,
) -> bool {
    if signature.len() > MAX_SIGNATURE_CHARS {
        return false;
    }
    let Some(raw) = decode_base64(signature) else {
        return false;
    };
    let Ok(signature) = Signature::from_der(&raw).or_else(|_| Signature::from_slice(&raw)) else {
        return false;
    };
    // Mobile keystores do not normalise S; accept the high-S twin of a valid signature.
    let candidates = [Some(signature), signature.normalize_s()];
    candidates.iter().flatten().any(|s| {
        key.verify(challenge_bytes, s).is_ok() || key.verify(challenge.as_bytes(), s).is_ok()
    })
}

#[cfg(test)]
mod tests {
    use p256::ecdsa::SigningKey;
    use p256::ecdsa::signature::Signer;
    use p256::pkcs8::EncodePublicKey;

    use super::*;

    fn device_key() -> SigningKey {
        SigningKey::from_slice(&[7u8; 32]).unwrap()
    }

    fn spki(key: &SigningKey) -> String {
        let der = key.verifying_key().to_public_key_der().unwrap();
        STANDARD.encode(der.as_bytes())
    }

    #[test]
    fn a_der_signature_over_the_challenge_bytes_matches_and_a_tampered_one_does_not() {
        let key = device_key();
        let public = parse_public_key(&spki(&key)).unwrap();
        let (challenge, hash) = new_challenge();
        assert_eq!(hash.len(), 64);
        assert_eq!(challenge_hash(&challenge), hash);
        let bytes = challenge_bytes(&challenge).unwrap();
        let signature: Signature = key.sign(&bytes);
        let der = URL_SAFE_NO_PAD.encode(signature.to_der().as_bytes());
        assert!(signature_matches(&public, &challenge, &bytes, &der));
        let fixed = STANDARD.encode(signature.to_bytes());
        assert!(signature_matches(&public, &challenge, &bytes, &fixed));
        let mut other = bytes.clone();
        other[0] ^= 1;
        assert!(!signature_matches(&public, &challenge, &other, &der));
        assert!(!signature_matches(
            &public,
            &challenge,
            &bytes,
            "not base64!"
        ));
        assert!(!signature_matches(
            &public,
            &challenge,
            &bytes,
            &"A".repeat(400)
        ));
    }

    #[test]
    fn another_devices_key_does_not_verify_the_signature() {
        let (challenge, _) = new_challenge();
        let bytes = challenge_bytes(&challenge).unwrap();
        let signature: Signature = device_key().sign(&bytes);
        let stranger = SigningKey::from_slice(&[9u8; 32]).unwrap();
        let public = parse_public_key(&spki(&stranger)).unwrap();
        let der = STANDARD.encode(signature.to_der().as_bytes());
        assert!(!signature_matches(&public, &challenge, &bytes, &der));
    }

    #[test]
    fn a_signature_over_the_challenge_text_is_accepted_too() {
        let key = device_key();
        let public = parse_public_key(&spki(&key)).unwrap();
        let (challenge, _) = new_challenge();
        let bytes = challenge_bytes(&challenge).unwrap();
        let signature: Signature = key.sign(challenge.as_bytes());
        let der = STANDARD.encode(signature.to_der().as_bytes());
        assert!(signature_matches(&public, &challenge, &bytes, &der));
    }

    #[test]
    fn keys_must_be_p256_spki_and_challenges_must_be_ours() {
        assert!(parse_public_key("").is_none());
        assert!(parse_public_key("bm90IGEga2V5").is_none());
        assert!(parse_public_key(&"A".repeat(600)).is_none());
        assert!(challenge_bytes("c2hvcnQ").is_none(), "too short");
        assert!(challenge_bytes(&"A".repeat(200)).is_none());
        let (challenge, _) = new_challenge();
        assert_eq!(challenge_bytes(&challenge).unwrap().len(), 32);
    }

    #[test]
    fn device_ids_are_printable_and_bounded() {
        assert!(is_valid_device_id("ios-7F3A9C21"));
        assert!(!is_valid_device_id(""));
        assert!(!is_valid_device_id("has space"));
        assert!(!is_valid_device_id("nul\0"));
        assert!(!is_valid_device_id(&"x".repeat(256)));
    }
}
