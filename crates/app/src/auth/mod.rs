//! Authentication: phone login with one-time codes, JWT sessions with rotating refresh tokens
//! (D31–D33, business-rules §11).

pub mod biometric;
pub mod otp;
pub mod service;
pub mod sessions;
pub mod tokens;

pub use service::{
    AuthContext, AuthError, AuthService, AuthSettings, AuthStats, ClientInfo, LoginOutcome,
    TokenPair,
};
pub use sessions::{Announcer, SessionCache, SessionCacheSettings};
pub use tokens::AccessClaims;
