//! Which IP addresses are public. Invariant: an address is public only if nothing about it
//! reaches private space: IPv4 outside every special-purpose range, and IPv6 inside global
//! unicast (2000::/3) but outside its deprecated, tunnelling and reserved blocks; every IPv6
//! form that embeds an IPv4 address (mapped, compatible, translated, 6to4, Teredo, NAT64,
//! ISATAP) is judged by the IPv4 address it carries, since that is where the packets go.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// True for addresses on the public internet (see the module's invariant).
pub fn is_public_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

/// Not loopback, private, link-local (cloud metadata lives at 169.254.169.254), shared
/// (CGNAT), unspecified, broadcast, multicast, documentation or reserved.
pub(crate) fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 192 && b == 88 && c == 99) // deprecated 6to4 relay anycast
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240) // reserved
}

/// Where an IPv6 form carries its IPv4 address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Embedded {
    /// The last 32 bits (mapped, compatible, translated, NAT64 /96).
    Last32,
    /// Bits 16..48 (6to4, 2002:aabb:ccdd::/48).
    SixToFour,
    /// The client: the last 32 bits inverted; the server: bits 32..64 (Teredo).
    Teredo,
}

/// What a range of IPv6 addresses is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rule {
    /// Never a scrape target: not globally routed, deprecated, or reaching the local site.
    Refuse,
    /// Judged by the IPv4 address it embeds.
    Judge(Embedded),
}

/// A prefix, its length, and its rule; the first matching row wins, so narrower rows
/// come before the wider ones they sit in.
const V6_RANGES: &[(u128, u8, Rule, &str)] = &[
    (0, 128, Rule::Refuse, "unspecified"),
    (1, 128, Rule::Refuse, "loopback"),
    (
        0xffff_0000_0000,
        96,
        Rule::Judge(Embedded::Last32),
        "IPv4-mapped",
    ),
    (
        0xffff_0000_0000_0000,
        96,
        Rule::Judge(Embedded::Last32),
        "IPv4-translated",
    ),
    (0, 96, Rule::Judge(Embedded::Last32), "IPv4-compatible"),
    (
        0x0064_ff9b << 96,
        96,
        Rule::Judge(Embedded::Last32),
        "NAT64",
    ),
    // Local-use NAT64 (RFC 8215): where the IPv4 sits depends on the operator's prefix
    // length, and the translator is the local network's, so none of it is public.
    (0x0064_ff9b_0001 << 80, 48, Rule::Refuse, "local-use NAT64"),
    (0x0100 << 112, 64, Rule::Refuse, "discard-only"),
    (0x2001 << 112, 32, Rule::Judge(Embedded::Teredo), "Teredo"),
    // The rest of 2001::/23 (benchmarking, ORCHID, ORCHIDv2, AMT, AS112) is protocol
    // infrastructure, not a website.
    (0x2001 << 112, 23, Rule::Refuse, "IETF protocol assignments"),
    (0x2001_0db8 << 96, 32, Rule::Refuse, "documentation"),
    (0x2002 << 112, 16, Rule::Judge(Embedded::SixToFour), "6to4"),
    (0x3ffe << 112, 16, Rule::Refuse, "6bone"),
    (0x3fff << 112, 20, Rule::Refuse, "documentation (RFC 9637)"),
    (0x5f00 << 112, 16, Rule::Refuse, "SRv6 SIDs"),
];

/// The one block IANA allocates for global unicast.
const GLOBAL_UNICAST: (u128, u8) = (0x2000 << 112, 3);

fn in_prefix(bits: u128, prefix: u128, len: u8) -> bool {
    let mask = if len == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(len))
    };
    bits & mask == prefix & mask
}

fn v4_at(bits: u128, shift: u32) -> Ipv4Addr {
    // The 32 bits starting `shift` bits from the right.
    Ipv4Addr::from(((bits >> shift) & 0xffff_ffff) as u32)
}

/// The IPv4 addresses an embedding carries, every one of which must be public.
fn embedded_v4(bits: u128, how: Embedded) -> Vec<Ipv4Addr> {
    match how {
        Embedded::Last32 => vec![v4_at(bits, 0)],
        Embedded::SixToFour => vec![v4_at(bits, 80)],
        Embedded::Teredo => vec![v4_at(!bits, 0), v4_at(bits, 64)],
    }
}

/// ISATAP's interface identifier (`::0:5efe:a.b.c.d` or `::200:5efe:a.b.c.d`, any /64)
/// routes to the IPv4 address in it over the site's tunnel.
fn isatap_v4(bits: u128) -> Option<Ipv4Addr> {
    let marker = (bits >> 32) & 0xfdff_ffff;
    (marker == 0x0000_5efe).then(|| v4_at(bits, 0))
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let bits = u128::from(ip);
    let rule = V6_RANGES
        .iter()
        .find(|(prefix, len, _, _)| in_prefix(bits, *prefix, *len))
        .map(|(_, _, rule, _)| *rule);
    match rule {
        Some(Rule::Refuse) => false,
        Some(Rule::Judge(how)) => embedded_v4(bits, how).into_iter().all(is_public_v4),
        None => {
            in_prefix(bits, GLOBAL_UNICAST.0, GLOBAL_UNICAST.1)
                && isatap_v4(bits).is_none_or(is_public_v4)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each form the rule must judge, with why.
    const NOT_PUBLIC: &[(&str, &str)] = &[
        ("127.0.0.1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "cloud metadata, link-local"),
        ("100.64.0.1", "shared address space"),
        ("0.0.0.0", "unspecified"),
        ("255.255.255.255", "broadcast"),
        ("224.0.0.1", "multicast"),
        ("192.0.2.45", "documentation"),
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("::ffff:127.0.0.1", "IPv4-mapped loopback"),
        ("::ffff:169.254.169.254", "IPv4-mapped metadata"),
        ("::ffff:0:10.0.0.1", "IPv4-translated private"),
        ("::a9fe:a9fe", "IPv4-compatible metadata"),
        ("::127.0.0.1", "IPv4-compatible loopback"),
        ("64:ff9b::a9fe:a9fe", "NAT64 of metadata"),
        ("64:ff9b:1::a9fe:a9fe", "local-use NAT64"),
        (
            "64:ff9b:1::808:808",
            "local-use NAT64, even of a public address",
        ),
        ("2002:7f00:1::", "6to4 of 127.0.0.1"),
        ("2002:a9fe:a9fe::1", "6to4 of metadata"),
        (
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "Teredo client 192.0.2.45",
        ),
        (
            "2001:0:4136:e378:8000:63bf:80ff:fffe",
            "Teredo client 127.0.0.1",
        ),
        ("2001:0:a00:1:8000:63bf:f7f7:f7f7", "Teredo server 10.0.0.1"),
        ("2001:2::1", "benchmarking"),
        ("2001:10::1", "ORCHID"),
        ("2001:20::1", "ORCHIDv2"),
        ("2001:db8::1", "documentation"),
        ("3fff::1", "documentation (RFC 9637)"),
        ("100::1", "discard-only"),
        ("3ffe:b00::1", "6bone"),
        ("5f00::1", "SRv6 SIDs"),
        ("fec0::1", "site-local"),
        ("fd00::1", "unique local"),
        ("fc00::1", "unique local"),
        ("fe80::1", "link-local"),
        ("ff02::1", "multicast"),
        ("ff0e::1", "global multicast"),
        ("4000::1", "outside global unicast"),
        ("2001:4860:1:1:0:5efe:a00:1", "ISATAP of 10.0.0.1"),
        ("2001:4860:1:1:200:5efe:7f00:1", "ISATAP of 127.0.0.1"),
    ];

    const PUBLIC: &[(&str, &str)] = &[
        ("93.184.216.34", "a website"),
        ("1.1.1.1", "a resolver"),
        ("8.8.8.8", "a resolver"),
        ("2606:4700::1111", "Cloudflare"),
        ("2001:4860:4860::8888", "Google"),
        ("::ffff:8.8.8.8", "IPv4-mapped public"),
        ("64:ff9b::808:808", "NAT64 of a public address"),
        ("2002:808:808::1", "6to4 of 8.8.8.8"),
        (
            "2001:0:4136:e378:8000:63bf:f7f7:f7f7",
            "Teredo client 8.8.8.8",
        ),
        ("2a00:1450:4001:82b::200e", "a website"),
        ("2001:4860:1:1:0:5efe:808:808", "ISATAP of 8.8.8.8"),
    ];

    #[test]
    fn every_form_reaching_private_or_reserved_space_is_refused() {
        for (raw, why) in NOT_PUBLIC {
            let ip: IpAddr = raw.parse().expect("ip");
            assert!(!is_public_ip(ip), "{raw} ({why}) must not be public");
        }
    }

    #[test]
    fn public_addresses_and_their_public_embeddings_stay_allowed() {
        for (raw, why) in PUBLIC {
            let ip: IpAddr = raw.parse().expect("ip");
            assert!(is_public_ip(ip), "{raw} ({why}) must be public");
        }
    }

    #[test]
    fn teredo_clients_are_read_inverted_from_the_last_32_bits() {
        let ip: Ipv6Addr = "2001:0:4136:e378:8000:63bf:3fff:fdd2".parse().expect("ip");
        assert_eq!(
            embedded_v4(u128::from(ip), Embedded::Teredo),
            [
                Ipv4Addr::new(192, 0, 2, 45),
                Ipv4Addr::new(65, 54, 227, 120)
            ]
        );
    }

    #[test]
    fn narrower_ranges_come_before_the_ranges_they_sit_in() {
        for (i, (prefix, len, _, name)) in V6_RANGES.iter().enumerate() {
            for (other, other_len, _, other_name) in &V6_RANGES[..i] {
                assert!(
                    !(in_prefix(*prefix, *other, *other_len) && other_len < len),
                    "{other_name} is wider than {name} but comes first"
                );
            }
        }
    }
}
