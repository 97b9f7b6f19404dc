//! Secrets at rest (proxy credentials, webhook signing secrets): sealed with AES-256-GCM
//! under a key from the configuration (`SCRX_SECRETS_KEY`, 32 bytes as base64), opened only
//! where they are used. A sealed value is a random 96-bit nonce followed by the ciphertext
//! and its tag, and is bound to its row: the row's [`Binding`] is the AEAD's associated
//! data, so a sealed value copied to another row (or another table) does not open there.
//!
//! Values sealed before binding existed open only through [`SecretBox::open_unbound`],
//! which the start-up re-seal (`Db::reseal_secrets`) alone uses, to seal them again bound.

use aes_gcm::{
    Aes256Gcm, Key, Nonce,
    aead::{Aead, KeyInit, Payload},
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
            "32 bytes as base64: seals and opens proxy credentials and webhook secrets (unset: none usable)",
        )
        .secret()
    }

    /// Seals `plaintext` for the row `binding`.
    pub fn seal(&self, plaintext: &[u8], binding: &Binding) -> Result<Vec<u8>> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let mut out = nonce.to_vec();
        let payload = Payload {
            msg: plaintext,
            aad: binding.0.as_bytes(),
        };
        let sealed = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), payload)
            .map_err(|_| Error::Corrupt("sealing failed".into()))?;
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Opens a value sealed for the row `binding`; a wrong key, another row's value or
    /// tampered bytes are [`Error::Corrupt`].
    pub fn open(&self, sealed: &[u8], binding: &Binding) -> Result<Vec<u8>> {
        self.open_with(sealed, binding.0.as_bytes())
    }

    /// Opens a value sealed before values were bound to rows: for the re-seal only.
    pub fn open_unbound(&self, sealed: &[u8]) -> Result<Vec<u8>> {
        self.open_with(sealed, b"")
    }

    fn open_with(&self, sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>> {
        if sealed.len() < NONCE_LEN {
            return Err(Error::Corrupt("sealed secret too short".into()));
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        self.cipher
            .decrypt(Nonce::from_slice(nonce), Payload { msg: body, aad })
            .map_err(|_| Error::Corrupt("sealed secret does not open here".into()))
    }
}

/// The row a sealed value belongs to (table and id), sealed in as associated data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding(String);

impl Binding {
    /// A proxy provider's credentials.
    pub fn proxy_provider(id: uuid::Uuid) -> Self {
        Self(format!("proxy_providers:{id}"))
    }

    /// A webhook's signing secrets (current and previous).
    pub fn webhook(id: crate::domain::WebhookId) -> Self {
        Self(format!("webhooks:{id}"))
    }

    /// A job's own webhook signing secret.
    pub fn job(id: crate::domain::JobId) -> Self {
        Self(format!("scrape_jobs:{id}"))
    }

    /// A crawl's webhook signing secret.
    pub fn crawl(id: crate::domain::CrawlId) -> Self {
        Self(format!("crawls:{id}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_only_with_their_key_and_intact() {
        let a = SecretBox::new(&[7u8; 32]);
        let row = Binding::proxy_provider(uuid::Uuid::from_u128(1));
        let sealed = a.seal(b"proxy-password", &row).expect("seal");
        assert!(
            !sealed.windows(8).any(|w| w == b"password"),
            "not in the clear"
        );
        assert_eq!(a.open(&sealed, &row).expect("open"), b"proxy-password");
        assert_ne!(
            a.seal(b"proxy-password", &row).expect("seal"),
            sealed,
            "fresh nonce each time"
        );
        assert!(SecretBox::new(&[8u8; 32]).open(&sealed, &row).is_err());
        let mut tampered = sealed.clone();
        if let Some(last) = tampered.last_mut() {
            *last ^= 1;
        }
        assert!(a.open(&tampered, &row).is_err());
        assert!(SecretBox::from_base64("c2hvcnQ=").is_err());
    }

    #[test]
    fn a_sealed_value_copied_to_another_row_does_not_open_there() {
        let a = SecretBox::new(&[7u8; 32]);
        let one = Binding::webhook(crate::domain::WebhookId::from(uuid::Uuid::from_u128(1)));
        let two = Binding::webhook(crate::domain::WebhookId::from(uuid::Uuid::from_u128(2)));
        let proxy = Binding::proxy_provider(uuid::Uuid::from_u128(1));
        let sealed = a.seal(b"whsec_x", &one).expect("seal");
        assert!(a.open(&sealed, &two).is_err(), "another webhook");
        assert!(a.open(&sealed, &proxy).is_err(), "another table, same id");
        assert!(a.open_unbound(&sealed).is_err(), "not a legacy value");
    }
}
