//! Operator credentials (issue 15): Argon2id password hashes, one-time login codes and session
//! tokens. Only hashes are stored: the PHC string of a password, the SHA-256 of a code or token
//! (both are long random values, so a fast hash is enough for them).

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::{Rng, TryRngCore};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Passwords shorter than this are refused.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// And longer than this (hashing cost is bounded by the input).
pub const MAX_PASSWORD_CHARS: usize = 256;

/// Letters and digits that cannot be mistaken for one another when read aloud or typed.
const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";
/// 12 symbols of 31: about 59 bits, single use, expiring, behind a login rate limit.
const CODE_SYMBOLS: usize = 12;

/// Prefix of operator session tokens (tells them apart from user JWTs and the admin token).
pub const TOKEN_PREFIX: &str = "bluop_";

fn os_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    rand::rngs::OsRng
        .try_fill_bytes(&mut bytes)
        .expect("the operating system's random source is available");
    bytes
}

/// Argon2id with OWASP's minimum parameters (19 MiB, 2 passes, 1 lane).
fn argon2() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("valid Argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// The PHC string of a password (salt included).
pub fn hash_password(password: &str) -> String {
    let salt = SaltString::encode_b64(&os_bytes::<16>()).expect("16 bytes make a valid salt");
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .expect("Argon2 hashes any password within the length limit")
        .to_string()
}

/// Whether `password` matches a stored PHC string (false for a malformed one).
pub fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .is_ok_and(|hash| argon2().verify_password(password.as_bytes(), &hash).is_ok())
}

/// A PHC string no password matches, verified against when the operator does not exist so a
/// failed login takes as long either way.
pub fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_password(&URL_SAFE_NO_PAD.encode(os_bytes::<24>())))
}

/// A new one-time code, shown as `ABCD-EFGH-JKMN`.
pub fn new_code() -> String {
    let mut rng = rand::rngs::OsRng.unwrap_err();
    let symbols: Vec<char> = (0..CODE_SYMBOLS)
        .map(|_| char::from(CODE_ALPHABET[rng.random_range(0..CODE_ALPHABET.len())]))
        .collect();
    symbols
        .chunks(4)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join("-")
}

/// The stored hash of a code as typed: separators and case do not matter.
pub fn code_hash(code: &str) -> String {
    let normalized: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    sha256_hex(&format!("code:{normalized}"))
}

/// A new session token and its stored hash.
pub fn new_token() -> (String, String) {
    let token = format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(os_bytes::<32>()));
    let hash = token_hash(&token);
    (token, hash)
}

pub fn token_hash(token: &str) -> String {
    sha256_hex(&format!("session:{token}"))
}

/// The CSRF token of a console session: derived from the session token (so nothing more is
/// stored), and not reversible into it.
pub fn csrf_token(session_token: &str) -> String {
    sha256_hex(&format!("csrf:{session_token}"))
}

/// Constant-time check of a presented CSRF token.
pub fn csrf_matches(session_token: &str, presented: &str) -> bool {
    csrf_token(session_token)
        .as_bytes()
        .ct_eq(presented.as_bytes())
        .into()
}

fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_verifies_against_its_own_hash_only() {
        let hash = hash_password("correct horse battery");
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &hash));
        assert!(!verify_password("correct horse batterz", &hash));
        assert!(!verify_password("anything", decoy_hash()));
        assert!(!verify_password("anything", "not a hash"));
    }

    #[test]
    fn codes_ignore_case_and_separators() {
        let code = new_code();
        assert_eq!(code.len(), 14);
        assert_eq!(
            code_hash(&code),
            code_hash(&code.to_lowercase().replace('-', " "))
        );
        assert_ne!(code_hash(&code), code_hash(&new_code()));
    }

    #[test]
    fn the_csrf_token_belongs_to_its_session() {
        let (token, _) = new_token();
        let (other, _) = new_token();
        assert!(token.starts_with(TOKEN_PREFIX));
        assert!(csrf_matches(&token, &csrf_token(&token)));
        assert!(!csrf_matches(&other, &csrf_token(&token)));
    }
}
