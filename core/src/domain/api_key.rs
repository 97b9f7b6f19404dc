//! API keys: `sk_` followed by 32 random bytes in hex. Only the SHA-256 of the whole key is
//! stored; the plaintext is shown once, at creation.

use rand::RngCore;
use serde::{Deserialize, Serialize};
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

/// The scopes a key can hold.
pub mod scopes {
    pub const SCRAPE_READ: &str = "scrape:read";
    pub const SCRAPE_WRITE: &str = "scrape:write";
    pub const WEBHOOKS: &str = "webhooks:manage";
    pub const ACCOUNT: &str = "account:read";
    pub const KEYS: &str = "keys:manage";
    pub const ADMIN: &str = "admin";
    /// Every scope.
    pub const ALL: &str = "*";
}

/// The scopes a key holds, as `api_keys.scopes` stores them (a JSON array of names).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Scopes(Vec<String>);

impl Scopes {
    /// Whether the key may act under `scope`: it holds it, or [`scopes::ALL`]. The one scope
    /// check, for the API's keys and the operator's.
    pub fn grants(&self, scope: &str) -> bool {
        self.0.iter().any(|s| s == scope || s == scopes::ALL)
    }
}

impl From<Vec<String>> for Scopes {
    fn from(names: Vec<String>) -> Self {
        Self(names)
    }
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

    #[test]
    fn a_key_acts_under_the_scopes_it_holds_or_under_any_with_the_wildcard() {
        let reader = Scopes::from(vec![scopes::SCRAPE_READ.to_owned()]);
        assert!(reader.grants(scopes::SCRAPE_READ));
        assert!(!reader.grants(scopes::SCRAPE_WRITE));
        assert!(!Scopes::default().grants(scopes::SCRAPE_READ));
        let all = Scopes::from(vec![scopes::ALL.to_owned()]);
        assert!(all.grants(scopes::ADMIN) && all.grants("anything:else"));
        let stored: Scopes =
            serde_json::from_str(r#"["scrape:read","keys:manage"]"#).expect("a list");
        assert!(stored.grants(scopes::KEYS));
    }
}
