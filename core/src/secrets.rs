//! Secrets at rest (proxy credentials): sealed with AES-256-GCM under a key from the
//! configuration (`SCRX_SECRETS_KEY`, 32 bytes as base64), opened only where they are used.
//! A sealed value is a random 96-bit nonce followed by the ciphertext and its tag.

use aes_gcm::{
    Aes256Gcm, Key, Nonce,
    aead::{Aead, KeyInit},
};
use base64::Engine as _;
use rand::RngCore;

use crate::{Error, Result};

pub const ENV_SECRETS_KEY: &str = "SCRX_SECRETS_KEY";
const NONCE_LEN: usize = 12;

#[derive(Clone)]
pub struct SecretBox {
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(..)")
    }
}

impl SecretBox {
    pub fn new(key: &[u8; 32]) -> Self {
        Self {
            cipher: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key)),
        }
    }

    /// From base64 text of exactly 32 bytes.
    pub fn from_base64(text: &str) -> Result<Self> {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|e| Error::Config(format!("{ENV_SECRETS_KEY}: not base64: {e}")))?;
        let key: [u8; 32] = raw
            .try_into()
            .map_err(|_| Error::Config(format!("{ENV_SECRETS_KEY} must be 32 bytes")))?;
        Ok(Self::new(&key))
    }

    /// The box for `SCRX_SECRETS_KEY`; None when it is not set (no sealed secrets usable).
    pub fn from_env() -> Result<Option<Self>> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// [`Self::from_env`] through `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Option<Self>> {
        lookup(ENV_SECRETS_KEY)
            .map(|k| Self::from_base64(&k))
            .transpose()
    }

    pub fn setting() -> crate::cli::Setting {
        crate::cli::Setting::new(
            ENV_SECRETS_KEY,
            "32 bytes as base64: opens sealed proxy credentials (unset: none usable)",
        )
        .secret()
    }

    pub fn seal(&self, plaintext: &[u8]) -> Result<Vec<u8>> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let mut out = nonce.to_vec();
        let sealed = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), plaintext)
            .map_err(|_| Error::Corrupt("sealing failed".into()))?;
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Opens a sealed value; a wrong key or tampered bytes are [`Error::Corrupt`].
    pub fn open(&self, sealed: &[u8]) -> Result<Vec<u8>> {
        if sealed.len() < NONCE_LEN {
            return Err(Error::Corrupt("sealed secret too short".into()));
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        self.cipher
            .decrypt(Nonce::from_slice(nonce), body)
            .map_err(|_| Error::Corrupt("sealed secret does not open with this key".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_only_with_their_key_and_intact() {
        let a = SecretBox::new(&[7u8; 32]);
        let sealed = a.seal(b"proxy-password").expect("seal");
        assert!(
            !sealed.windows(8).any(|w| w == b"password"),
            "not in the clear"
        );
        assert_eq!(a.open(&sealed).expect("open"), b"proxy-password");
        assert_ne!(
            a.seal(b"proxy-password").expect("seal"),
            sealed,
            "fresh nonce each time"
        );
        assert!(SecretBox::new(&[8u8; 32]).open(&sealed).is_err());
        let mut tampered = sealed.clone();
        if let Some(last) = tampered.last_mut() {
            *last ^= 1;
        }
        assert!(a.open(&tampered).is_err());
        assert!(SecretBox::from_base64("c2hvcnQ=").is_err());
    }
}
