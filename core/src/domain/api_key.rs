//! API keys: `sk_` followed by 32 random bytes in hex. Only the SHA-256 of the whole key is
//! stored; the plaintext is shown once, at creation.

use rand::RngCore;
use sha2::{Digest, Sha256};

/// A freshly generated key. Its `Debug` form hides the secret.
pub struct ApiKeySecret {
    plaintext: String,
}

impl ApiKeySecret {
    pub const PREFIX: &'static str = "sk_";
    /// Characters of the key kept visible for identification (`sk_` + 8 hex), as key_prefix.
    pub const VISIBLE_LEN: usize = 11;

    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        Self {
            plaintext: format!("{}{}", Self::PREFIX, hex::encode(bytes)),
        }
    }

    /// The full key, to be shown to its owner once.
    pub fn expose(&self) -> &str {
        &self.plaintext
    }

    /// The visible prefix stored in `api_keys.key_prefix`.
    pub fn prefix(&self) -> &str {
        &self.plaintext[..Self::VISIBLE_LEN]
    }

    pub fn hash(&self) -> String {
        hash_api_key(&self.plaintext)
    }
}

impl std::fmt::Debug for ApiKeySecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ApiKeySecret({}…)", self.prefix())
    }
}

/// Whether a key with `scopes` may act under `scope`: it holds it, or `*`. The one scope
/// rule, for the API's keys and the operator's.
pub fn grants(scopes: &[String], scope: &str) -> bool {
    scopes.iter().any(|s| s == scope || s == "*")
}

/// The hex SHA-256 of a presented key, the form `api_keys.key_hash` stores.
pub fn hash_api_key(plaintext: &str) -> String {
    hex::encode(Sha256::digest(plaintext.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_unique_prefixed_and_hash_to_64_hex_chars() {
        let a = ApiKeySecret::generate();
        let b = ApiKeySecret::generate();
        assert_ne!(a.expose(), b.expose());
        assert!(a.expose().starts_with("sk_"));
        assert_eq!(a.expose().len(), 3 + 64);
        assert_eq!(a.prefix().len(), 11);
        assert_eq!(a.hash().len(), 64);
        assert_eq!(a.hash(), hash_api_key(a.expose()));
        assert!(!format!("{a:?}").contains(&a.expose()[11..]));
    }
}
