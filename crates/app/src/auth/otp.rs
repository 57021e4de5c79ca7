//! One-time codes (D31): 6 digits from a CSPRNG, stored as HMAC-SHA256(key, phone ‖ code),
//! compared in constant time.

use hmac::{Hmac, Mac};
use rand::{Rng, TryRngCore};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::secret::Secret;

/// A uniformly random code in 100000–999999 from the operating system's CSPRNG.
pub fn generate_code() -> String {
    let code: u32 = rand::rngs::OsRng
        .unwrap_err()
        .random_range(100_000..=999_999);
    code.to_string()
}

/// Lower-case hex HMAC-SHA256(key, phone ‖ code).
pub fn code_hash(key: &Secret, phone: &str, code: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.expose().as_bytes())
        .expect("HMAC accepts keys of any length");
    mac.update(phone.as_bytes());
    mac.update(code.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Constant-time comparison of a presented code against the stored hash.
pub fn code_matches(key: &Secret, phone: &str, code: &str, stored_hash: &str) -> bool {
    let presented = code_hash(key, phone, code);
    presented.as_bytes().ct_eq(stored_hash.as_bytes()).into()
}

/// `^\+989\d{9}$` (D31).
pub fn is_valid_phone(phone: &str) -> bool {
    phone.len() == 13 && phone.starts_with("+989") && phone[4..].bytes().all(|b| b.is_ascii_digit())
}

/// Exactly six ASCII digits.
pub fn is_well_formed_code(code: &str) -> bool {
    code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_six_digits_and_vary() {
        let codes: std::collections::HashSet<String> = (0..50).map(|_| generate_code()).collect();
        assert!(
            codes
                .iter()
                .all(|c| is_well_formed_code(c) && !c.starts_with('0'))
        );
        assert!(codes.len() > 40);
    }

    #[test]
    fn the_hash_binds_the_code_to_the_phone() {
        let key = Secret::new("k");
        let h = code_hash(&key, "+989123456789", "123456");
        assert!(code_matches(&key, "+989123456789", "123456", &h));
        assert!(!code_matches(&key, "+989123456780", "123456", &h));
        assert!(!code_matches(&key, "+989123456789", "123457", &h));
        assert!(!code_matches(
            &Secret::new("other"),
            "+989123456789",
            "123456",
            &h
        ));
    }

    #[test]
    fn phone_format_is_plus_98_9_and_nine_digits() {
        assert!(is_valid_phone("+989123456789"));
        for bad in [
            "09123456789",
            "+98912345678",
            "+9891234567890",
            "+988123456789",
            "+98912345678a",
            "+989123456٧89",
        ] {
            assert!(!is_valid_phone(bad), "{bad}");
        }
    }
}
