//! One rustls crypto provider for the whole process.
//!
//! reqwest, tokio-tungstenite and lettre all use rustls; we build them without a provider of
//! their own and install ring here, first thing in `main` (and in tests that make HTTP
//! clients). If two providers were compiled in, rustls would panic at the first handshake.

/// Installs ring as the process-wide rustls provider. Calling it again is harmless.
pub fn install_crypto_provider() {
    // Err only means a provider is already installed, which is the state we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}
