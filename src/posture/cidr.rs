//! How wide an `aws:SourceIp` grant really is.
//!
//! AWS calls a policy "not public" as soon as an Allow is limited by `aws:SourceIp`, whatever
//! the size of the range: `0.0.0.0/1` (half of the IPv4 internet) passes Block Public Access
//! and `GetBucketPolicyStatus`. This module measures the ranges so that s3seal can flag them.
//! The thresholds are a project decision, documented in `docs/POSTURE.md`:
//!
//! - IPv4: a prefix shorter than /16, or a union of more than 65,536 public addresses, blocks;
//!   /16 to /23 warns; /24 or narrower passes (and is listed in the report).
//! - IPv6: a prefix shorter than /32, or a union larger than one /32, blocks; /32 to /47 warns.
//! - Private, loopback, link-local and shared (CGNAT) ranges grant nothing: requests from the
//!   internet never carry those source addresses, and requests through a VPC endpoint carry no
//!   `aws:SourceIp` at all.

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use serde::Serialize;
use std::net::IpAddr;

/// IPv4: a union of more public addresses than this blocks (one /16).
pub const MAX_IPV4_ADDRESSES: u128 = 65_536;
/// IPv4 prefixes shorter than this block.
pub const IPV4_BLOCK_BELOW_PREFIX: u8 = 16;
/// IPv4 prefixes shorter than this (and at least [`IPV4_BLOCK_BELOW_PREFIX`]) warn.
pub const IPV4_WARN_BELOW_PREFIX: u8 = 24;
/// IPv6 prefixes shorter than this block.
pub const IPV6_BLOCK_BELOW_PREFIX: u8 = 32;
/// IPv6 prefixes shorter than this (and at least [`IPV6_BLOCK_BELOW_PREFIX`]) warn.
pub const IPV6_WARN_BELOW_PREFIX: u8 = 48;
/// IPv6: a union of more addresses than one /32 blocks.
pub const MAX_IPV6_ADDRESSES: u128 = 1u128 << 96;

/// How wide a range (or a set of ranges) is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Width {
    /// Private or otherwise unroutable: grants nothing to the internet.
    GrantsNothing,
    /// /24 or narrower (IPv6 /48 or narrower).
    Narrow,
    /// /16 to /23 (IPv6 /32 to /47).
    Wide,
    /// Shorter than /16 (IPv6 /32), or a union over the address limit.
    TooWide,
}

/// One value of an `aws:SourceIp` condition, measured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RangeWidth {
    /// The value as written in the policy.
    pub value: String,
    /// The network it denotes, or `None` when the value is not an address or CIDR.
    pub network: Option<String>,
    /// Its classification.
    pub width: Width,
}

/// A set of ranges that an Allow is limited to (the values of one condition, ORed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RangeSet {
    /// Each range.
    pub ranges: Vec<RangeWidth>,
    /// Public IPv4 addresses in the union (private ranges removed).
    pub public_ipv4_addresses: u128,
    /// Public IPv6 addresses in the union (private ranges removed), saturated at `u128::MAX`.
    /// Serialized as a decimal string: JSON numbers cannot hold 128 bits.
    #[serde(serialize_with = "decimal_string")]
    pub public_ipv6_addresses: u128,
    /// The classification of the whole set: the widest range, or [`Width::TooWide`] when
    /// the union exceeds the address limit.
    pub width: Width,
}

fn decimal_string<S: serde::Serializer>(value: &u128, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&value.to_string())
}

fn private_v4() -> Vec<Ipv4Net> {
    [
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "100.64.0.0/10",
    ]
    .iter()
    .filter_map(|s| s.parse().ok())
    .collect()
}

fn private_v6() -> Vec<Ipv6Net> {
    ["fc00::/7", "fe80::/10", "::1/128"]
        .iter()
        .filter_map(|s| s.parse().ok())
        .collect()
}

/// Parses a policy value: a CIDR (`203.0.113.0/24`, host bits allowed) or a bare address.
pub fn parse_network(value: &str) -> Option<IpNet> {
    let value = value.trim();
    if let Ok(net) = value.parse::<IpNet>() {
        return Some(net.trunc());
    }
    match value.parse::<IpAddr>() {
        Ok(IpAddr::V4(a)) => Ipv4Net::new(a, 32).ok().map(IpNet::V4),
        Ok(IpAddr::V6(a)) => Ipv6Net::new(a, 128).ok().map(IpNet::V6),
        Err(_) => None,
    }
}

/// True for the whole address space (`0.0.0.0/0`, `::/0`): not a restriction at all.
pub fn is_everything(value: &str) -> bool {
    parse_network(value).is_some_and(|n| n.prefix_len() == 0)
}

fn v4_interval(n: &Ipv4Net) -> (u128, u128) {
    (
        u32::from(n.network()) as u128,
        u32::from(n.broadcast()) as u128,
    )
}

fn v6_interval(n: &Ipv6Net) -> (u128, u128) {
    (u128::from(n.network()), u128::from(n.broadcast()))
}

/// Merges inclusive intervals.
fn merge(mut intervals: Vec<(u128, u128)>) -> Vec<(u128, u128)> {
    intervals.sort();
    let mut out: Vec<(u128, u128)> = Vec::new();
    for (start, end) in intervals {
        match out.last_mut() {
            Some(last) if start <= last.1.saturating_add(1) => last.1 = last.1.max(end),
            _ => out.push((start, end)),
        }
    }
    out
}

/// Removes `holes` (merged) from `intervals` (merged) and counts what is left, saturating.
fn count_outside(intervals: &[(u128, u128)], holes: &[(u128, u128)]) -> u128 {
    let mut total: u128 = 0;
    for &(start, end) in intervals {
        let mut pieces = vec![(start, end)];
        for &(hs, he) in holes {
            let mut next = Vec::new();
            for (s, e) in pieces {
                if he < s || hs > e {
                    next.push((s, e));
                    continue;
                }
                if hs > s {
                    next.push((s, hs - 1));
                }
                if he < e {
                    next.push((he + 1, e));
                }
            }
            pieces = next;
        }
        for (s, e) in pieces {
            total = total.saturating_add((e - s).saturating_add(1));
        }
    }
    total
}

/// Measures one network.
pub fn classify_network(net: &IpNet) -> Width {
    match net {
        IpNet::V4(n) => {
            let private = private_v4().iter().any(|p| p.contains(n));
            width_of(
                private,
                n.prefix_len(),
                IPV4_BLOCK_BELOW_PREFIX,
                IPV4_WARN_BELOW_PREFIX,
            )
        }
        IpNet::V6(n) => {
            if let Some(v4) = n.addr().to_ipv4_mapped() {
                // ::ffff:a.b.c.d/len: measure as the IPv4 network it maps.
                let len = n.prefix_len().saturating_sub(96);
                return Ipv4Net::new(v4, len)
                    .map(|v4net| classify_network(&IpNet::V4(v4net.trunc())))
                    .unwrap_or(Width::TooWide);
            }
            let private = private_v6().iter().any(|p| p.contains(n));
            width_of(
                private,
                n.prefix_len(),
                IPV6_BLOCK_BELOW_PREFIX,
                IPV6_WARN_BELOW_PREFIX,
            )
        }
    }
}

/// The width of a network of prefix length `prefix`, given the thresholds of its family.
fn width_of(private: bool, prefix: u8, block_below: u8, warn_below: u8) -> Width {
    if private {
        Width::GrantsNothing
    } else if prefix < block_below {
        Width::TooWide
    } else if prefix < warn_below {
        Width::Wide
    } else {
        Width::Narrow
    }
}

/// Measures the values of one `aws:SourceIp` condition (ORed).
pub fn classify_values<S: AsRef<str>>(values: &[S]) -> RangeSet {
    let mut ranges = Vec::new();
    let mut v4 = Vec::new();
    let mut v6 = Vec::new();
    for value in values {
        let value = value.as_ref();
        match parse_network(value) {
            Some(net) => {
                match &net {
                    IpNet::V4(n) => v4.push(v4_interval(n)),
                    IpNet::V6(n) => v6.push(v6_interval(n)),
                }
                ranges.push(RangeWidth {
                    value: value.to_string(),
                    network: Some(net.to_string()),
                    width: classify_network(&net),
                });
            }
            // IAM refuses such a value; if one got through, it matches no address.
            None => ranges.push(RangeWidth {
                value: value.to_string(),
                network: None,
                width: Width::GrantsNothing,
            }),
        }
    }
    let private4: Vec<(u128, u128)> = merge(private_v4().iter().map(v4_interval).collect());
    let private6: Vec<(u128, u128)> = merge(private_v6().iter().map(v6_interval).collect());
    let public_ipv4_addresses = count_outside(&merge(v4), &private4);
    let public_ipv6_addresses = count_outside(&merge(v6), &private6);
    let mut width = ranges
        .iter()
        .map(|r| r.width)
        .max()
        .unwrap_or(Width::GrantsNothing);
    if public_ipv4_addresses > MAX_IPV4_ADDRESSES || public_ipv6_addresses > MAX_IPV6_ADDRESSES {
        width = Width::TooWide;
    }
    RangeSet {
        ranges,
        public_ipv4_addresses,
        public_ipv6_addresses,
        width,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes() {
        assert_eq!(classify_values(&["0.0.0.0/1"]).width, Width::TooWide);
        assert_eq!(classify_values(&["198.51.0.0/15"]).width, Width::TooWide);
        assert_eq!(classify_values(&["198.51.0.0/16"]).width, Width::Wide);
        assert_eq!(classify_values(&["198.51.100.0/23"]).width, Width::Wide);
        assert_eq!(classify_values(&["203.0.113.0/24"]).width, Width::Narrow);
        assert_eq!(classify_values(&["203.0.113.7"]).width, Width::Narrow);
        assert_eq!(classify_values(&["10.0.0.0/8"]).width, Width::GrantsNothing);
        assert_eq!(classify_values(&["2001:db8::/31"]).width, Width::TooWide);
        assert_eq!(classify_values(&["2001:db8::/32"]).width, Width::Wide);
        assert_eq!(classify_values(&["2001:db8::/48"]).width, Width::Narrow);
        assert_eq!(classify_values(&["fd00::/8"]).width, Width::GrantsNothing);
    }

    #[test]
    fn unions() {
        // Two /16s: 131,072 addresses.
        let set = classify_values(&["198.51.0.0/16", "203.0.0.0/16"]);
        assert_eq!(set.public_ipv4_addresses, 131_072);
        assert_eq!(set.width, Width::TooWide);
        // Overlapping ranges count once.
        let set = classify_values(&["198.51.0.0/16", "198.51.100.0/24"]);
        assert_eq!(set.public_ipv4_addresses, 65_536);
        assert_eq!(set.width, Width::Wide);
        // Private parts do not count.
        let set = classify_values(&["10.0.0.0/8", "203.0.113.0/24"]);
        assert_eq!(set.public_ipv4_addresses, 256);
        assert_eq!(set.width, Width::Narrow);
    }
}
