//! JWT access and refresh tokens (D32): HS256 with separate secrets. Access tokens carry the
//! session id, which is checked on every request. Refresh tokens are deterministic for a given
//! (session, generation, issue time), which is what makes the concurrent-refresh grace work: the
//! server can re-sign the token a rotation issued instead of storing it.

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::secret::Secret;

/// Claims of an access token (business-rules §11). Field order is the signing order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub sub: Uuid,
    pub phone: String,
    pub sid: Uuid,
    pub iat: i64,
    pub exp: i64,
}

/// Claims of a refresh token. Field order is fixed so re-signing reproduces the same token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshClaims {
    pub sub: Uuid,
    pub sid: Uuid,
    #[serde(rename = "gen")]
    pub generation: i64,
    pub iat: i64,
    pub exp: i64,
}

/// Why a token was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenError {
    Expired,
    Invalid,
}

/// Signs and verifies both token kinds.
pub struct TokenKeys {
    access_encoding: EncodingKey,
    access_decoding: DecodingKey,
    refresh_encoding: EncodingKey,
    refresh_decoding: DecodingKey,
    validation: Validation,
}

impl TokenKeys {
    pub fn new(access_secret: &Secret, refresh_secret: &Secret) -> TokenKeys {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.validate_exp = true;
        validation.required_spec_claims = ["exp", "sub", "iat"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        TokenKeys {
            access_encoding: EncodingKey::from_secret(access_secret.expose().as_bytes()),
            access_decoding: DecodingKey::from_secret(access_secret.expose().as_bytes()),
            refresh_encoding: EncodingKey::from_secret(refresh_secret.expose().as_bytes()),
            refresh_decoding: DecodingKey::from_secret(refresh_secret.expose().as_bytes()),
            validation,
        }
    }

    pub fn sign_access(&self, claims: &AccessClaims) -> String {
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            claims,
            &self.access_encoding,
        )
        .expect("HS256 signing of plain claims cannot fail")
    }

    pub fn sign_refresh(&self, claims: &RefreshClaims) -> String {
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            claims,
            &self.refresh_encoding,
        )
        .expect("HS256 signing of plain claims cannot fail")
    }

    /// Verifies signature, algorithm (only HS256; `alg: none` and others are refused) and expiry.
    pub fn verify_access(&self, token: &str) -> Result<AccessClaims, TokenError> {
        decode(token, &self.access_decoding, &self.validation)
    }

    pub fn verify_refresh(&self, token: &str) -> Result<RefreshClaims, TokenError> {
        decode(token, &self.refresh_decoding, &self.validation)
    }
}

fn decode<T: for<'de> Deserialize<'de>>(
    token: &str,
    key: &DecodingKey,
    validation: &Validation,
) -> Result<T, TokenError> {
    if token.len() > 4096 {
        return Err(TokenError::Invalid);
    }
    match jsonwebtoken::decode::<T>(token, key, validation) {
        Ok(data) => Ok(data.claims),
        Err(e) if matches!(e.kind(), ErrorKind::ExpiredSignature) => Err(TokenError::Expired),
        Err(_) => Err(TokenError::Invalid),
    }
}

/// SHA-256 hex of a token: what the session row stores instead of the token.
pub fn token_hash(token: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use base64_like::encode_segment;

    use super::*;

    fn keys() -> TokenKeys {
        TokenKeys::new(&Secret::new("a".repeat(32)), &Secret::new("b".repeat(32)))
    }

    fn claims(exp: i64) -> AccessClaims {
        AccessClaims {
            sub: Uuid::nil(),
            phone: "+989123456789".into(),
            sid: Uuid::nil(),
            iat: 0,
            exp,
        }
    }

    #[test]
    fn a_signed_access_token_verifies() {
        let k = keys();
        let token = k.sign_access(&claims(i64::from(u32::MAX)));
        assert_eq!(
            k.verify_access(&token).unwrap(),
            claims(i64::from(u32::MAX))
        );
    }

    #[test]
    fn an_expired_token_is_reported_as_expired() {
        let k = keys();
        assert_eq!(
            k.verify_access(&k.sign_access(&claims(1))),
            Err(TokenError::Expired)
        );
    }

    #[test]
    fn access_and_refresh_secrets_are_not_interchangeable() {
        let k = keys();
        let refresh = k.sign_refresh(&RefreshClaims {
            sub: Uuid::nil(),
            sid: Uuid::nil(),
            generation: 0,
            iat: 0,
            exp: i64::from(u32::MAX),
        });
        assert_eq!(k.verify_access(&refresh), Err(TokenError::Invalid));
    }

    #[test]
    fn an_unsigned_alg_none_token_is_refused() {
        let header = encode_segment(br#"{"alg":"none","typ":"JWT"}"#);
        let body = encode_segment(
            format!(
                r#"{{"sub":"{}","phone":"+989123456789","sid":"{}","iat":0,"exp":4000000000}}"#,
                Uuid::nil(),
                Uuid::nil()
            )
            .as_bytes(),
        );
        assert_eq!(
            keys().verify_access(&format!("{header}.{body}.")),
            Err(TokenError::Invalid)
        );
    }

    #[test]
    fn re_signing_the_same_refresh_claims_reproduces_the_token() {
        let k = keys();
        let c = RefreshClaims {
            sub: Uuid::nil(),
            sid: Uuid::nil(),
            generation: 3,
            iat: 10,
            exp: i64::from(u32::MAX),
        };
        assert_eq!(k.sign_refresh(&c), k.sign_refresh(&c.clone()));
    }

    /// Minimal unpadded base64url, enough to forge test tokens.
    mod base64_like {
        pub fn encode_segment(bytes: &[u8]) -> String {
            const A: &[u8; 64] =
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
            let mut out = String::new();
            for chunk in bytes.chunks(3) {
                let b = [
                    chunk[0],
                    *chunk.get(1).unwrap_or(&0),
                    *chunk.get(2).unwrap_or(&0),
                ];
                let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
                let chars = chunk.len() + 1;
                for i in 0..chars {
                    out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
                }
            }
            out
        }
    }
}
