//! Shared HTTP client setup for provider calls.

use std::time::Duration;

/// Installs the process-wide rustls crypto provider (ring) once; reqwest is built without a
/// provider of its own so the tree carries a single TLS implementation.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A client with the timeouts every outbound call must have (business-rules §2.4: 5 s).
pub fn client(timeout: Duration) -> reqwest::Client {
    install_crypto_provider();
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .user_agent("blu-markets-backend")
        .build()
        .expect("a reqwest client with static settings builds")
}
