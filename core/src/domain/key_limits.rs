//! What a key minted by another key may hold. Invariant: a child key is never less
//! restricted than the key that minted it: its allowed addresses and domains lie inside the
//! parent's (it inherits them when it names none), it expires no later, and its own rate
//! and concurrency limits are no higher.

use std::net::IpAddr;

use chrono::{DateTime, Utc};

use crate::{Error, Result};

/// A key's restrictions; None is "no restriction of this kind".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyRestrictions {
    pub allowed_ips: Option<Vec<String>>,
    pub allowed_domains: Option<Vec<String>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub rate_limit: Option<i32>,
    pub max_concurrent: Option<i32>,
}

impl KeyRestrictions {
    /// `wanted` narrowed to what `self` (the minting key) allows, or the field that asks
    /// for more than it may.
    pub fn narrow(&self, wanted: Self) -> Result<Self> {
        Ok(Self {
            allowed_ips: narrow_ips(self.allowed_ips.as_deref(), wanted.allowed_ips)?,
            allowed_domains: narrow_domains(
                self.allowed_domains.as_deref(),
                wanted.allowed_domains,
            )?,
            expires_at: at_most(self.expires_at, wanted.expires_at, "expires_at", "expiry")?,
            rate_limit: at_most(
                self.rate_limit,
                wanted.rate_limit,
                "rate_limit",
                "rate limit",
            )?,
            max_concurrent: self.max_concurrent,
        })
    }
}

fn at_most<T: PartialOrd + Copy>(
    parent: Option<T>,
    wanted: Option<T>,
    field: &str,
    what: &str,
) -> Result<Option<T>> {
    match (parent, wanted) {
        (Some(p), Some(w)) if w > p => Err(Error::validation(
            field,
            format!("must be no later or higher than this key's own {what}"),
        )),
        (Some(p), None) => Ok(Some(p)),
        (_, w) => Ok(w),
    }
}

/// An entry of an allow-list as a network: a CIDR range or a single address.
fn network(entry: &str) -> Option<ipnet::IpNet> {
    entry
        .parse::<ipnet::IpNet>()
        .ok()
        .or_else(|| entry.parse::<IpAddr>().ok().map(ipnet::IpNet::from))
}

/// An empty address list restricts nothing (the check skips it), so it counts as none.
fn narrow_ips(
    parent: Option<&[String]>,
    wanted: Option<Vec<String>>,
) -> Result<Option<Vec<String>>> {
    let wanted = wanted.filter(|w| !w.is_empty());
    let Some(parent) = parent.filter(|p| !p.is_empty()) else {
        return Ok(wanted);
    };
    let Some(wanted) = wanted else {
        return Ok(Some(parent.to_vec()));
    };
    let parents: Vec<_> = parent.iter().filter_map(|p| network(p)).collect();
    for entry in &wanted {
        let inside = network(entry).is_some_and(|n| parents.iter().any(|p| p.contains(&n)));
        if !inside {
            return Err(Error::validation(
                "allowed_ips",
                format!("{entry} is outside this key's own allowed addresses"),
            ));
        }
    }
    Ok(Some(wanted))
}

fn bare_domain(d: &str) -> String {
    d.trim_start_matches("*.")
        .trim_end_matches('.')
        .to_ascii_lowercase()
}

fn narrow_domains(
    parent: Option<&[String]>,
    wanted: Option<Vec<String>>,
) -> Result<Option<Vec<String>>> {
    let Some(parent) = parent else {
        return Ok(wanted);
    };
    let Some(wanted) = wanted else {
        return Ok(Some(parent.to_vec()));
    };
    let parents: Vec<_> = parent.iter().map(|p| bare_domain(p)).collect();
    for entry in &wanted {
        let d = bare_domain(entry);
        if !parents
            .iter()
            .any(|p| d == *p || d.ends_with(&format!(".{p}")))
        {
            return Err(Error::validation(
                "allowed_domains",
                format!("{entry} is outside this key's own allowed domains"),
            ));
        }
    }
    Ok(Some(wanted))
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;

    fn strings(v: &[&str]) -> Option<Vec<String>> {
        Some(v.iter().map(|s| (*s).to_owned()).collect())
    }

    fn restricted() -> KeyRestrictions {
        KeyRestrictions {
            allowed_ips: strings(&["10.0.0.0/8", "192.0.2.7"]),
            allowed_domains: strings(&["example.com"]),
            expires_at: Some(Utc::now() + Duration::days(7)),
            rate_limit: Some(5),
            max_concurrent: Some(2),
        }
    }

    fn field(result: Result<KeyRestrictions>) -> String {
        match result {
            Err(Error::Validation { field, .. }) => field,
            other => panic!("refused expected, got {other:?}"),
        }
    }

    #[test]
    fn a_child_naming_nothing_inherits_every_restriction() {
        let parent = restricted();
        assert_eq!(
            parent.narrow(KeyRestrictions::default()).expect("ok"),
            parent
        );
        let empty_ips = KeyRestrictions {
            allowed_ips: Some(vec![]),
            ..KeyRestrictions::default()
        };
        assert_eq!(
            parent.narrow(empty_ips).expect("ok").allowed_ips,
            parent.allowed_ips
        );
    }

    #[test]
    fn a_child_may_narrow_within_its_parent() {
        let parent = restricted();
        let wanted = KeyRestrictions {
            allowed_ips: strings(&["10.1.0.0/16", "192.0.2.7"]),
            allowed_domains: strings(&["api.example.com", "*.shop.example.com"]),
            expires_at: Some(Utc::now() + Duration::days(1)),
            rate_limit: Some(3),
            max_concurrent: None,
        };
        let narrowed = parent.narrow(wanted.clone()).expect("ok");
        assert_eq!(narrowed.allowed_ips, wanted.allowed_ips);
        assert_eq!(narrowed.allowed_domains, wanted.allowed_domains);
        assert_eq!(narrowed.rate_limit, Some(3));
        assert_eq!(narrowed.max_concurrent, Some(2));
    }

    #[test]
    fn a_child_asking_for_more_than_its_parent_is_refused_naming_the_field() {
        let parent = restricted();
        let ask = |tweak: fn(&mut KeyRestrictions)| {
            let mut wanted = KeyRestrictions::default();
            tweak(&mut wanted);
            field(parent.narrow(wanted))
        };
        assert_eq!(
            ask(|w| w.allowed_ips = strings(&["0.0.0.0/0"])),
            "allowed_ips"
        );
        assert_eq!(
            ask(|w| w.allowed_ips = strings(&["192.0.2.0/24"])),
            "allowed_ips"
        );
        assert_eq!(
            ask(|w| w.allowed_domains = strings(&["evil.com"])),
            "allowed_domains"
        );
        assert_eq!(
            ask(|w| w.allowed_domains = strings(&["notexample.com"])),
            "allowed_domains"
        );
        assert_eq!(
            ask(|w| w.expires_at = Some(Utc::now() + Duration::days(30))),
            "expires_at"
        );
        assert_eq!(ask(|w| w.rate_limit = Some(50)), "rate_limit");
    }

    #[test]
    fn an_unrestricted_parent_passes_the_request_through() {
        let wanted = restricted();
        assert_eq!(
            KeyRestrictions::default()
                .narrow(wanted.clone())
                .expect("ok")
                .allowed_ips,
            wanted.allowed_ips
        );
    }
}
