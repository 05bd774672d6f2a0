//! The original client's address, as the proxies in front of the CAS wrote it.
//!
//! In order of preference: the first (left-most, so client-most) valid address of
//! `X-Forwarded-For` (all such headers, in order), else `X-Real-IP`, else the first usable
//! `for=` node of `Forwarded` (RFC 7239). Addresses are written in canonical form with port,
//! brackets and quotes stripped; an obfuscated node (`_hidden`) is kept as given. `unknown` and
//! empty list members are skipped silently; anything else that is not an address is skipped and
//! reported.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{excerpt, Anomalies};
use crate::http::Headers;

pub(super) fn original_client(headers: &Headers, anomalies: &mut Anomalies) -> Option<String> {
    let mut nodes = headers
        .get_all("X-Forwarded-For")
        .chain(headers.get_all("X-Real-IP"))
        .flat_map(|list| list.split(','))
        .map(|member| (member, address_node(member)))
        .chain(headers.get_all("Forwarded").flat_map(forwarded_for_nodes));
    let mut garbage = None;
    let client = nodes.find_map(|(member, node)| match node {
        Node::Usable(text) => Some(text),
        Node::Unknown => None,
        Node::Garbage => {
            garbage.get_or_insert(member);
            None
        }
    });
    if let Some(member) = garbage {
        anomalies.report(
            "forwarded_for_invalid",
            format!("not an address in a forwarding header: {}", excerpt(member.trim())),
        );
    }
    client
}

/// What one member of a forwarding list says.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Node {
    /// An address in canonical form, or an obfuscated identifier as given.
    Usable(String),
    /// Empty, or `unknown`: nothing to use, nothing wrong.
    Unknown,
    Garbage,
}

/// A member of `X-Forwarded-For` / `X-Real-IP`: an address, possibly with a port or quoted.
fn address_node(member: &str) -> Node {
    let member = unquote(member.trim());
    if member.is_empty() || member.eq_ignore_ascii_case("unknown") {
        Node::Unknown
    } else {
        parse_address(member).map_or(Node::Garbage, |ip| Node::Usable(ip.to_string()))
    }
}

/// The `for=` node of each element of a `Forwarded` header, with the element it came from.
/// Elements are split on every `,` and pairs on every `;`: quoted values hold neither in
/// practice (addresses, ports, obfuscated identifiers).
fn forwarded_for_nodes(header: &str) -> impl Iterator<Item = (&str, Node)> {
    header.split(',').filter_map(|element| {
        let value = element
            .split(';')
            .filter_map(|pair| pair.split_once('='))
            .find(|(name, _)| name.trim().eq_ignore_ascii_case("for"))
            .map(|(_, value)| unquote(value.trim()))?;
        Some((element, forwarded_node(value)))
    })
}

/// RFC 7239 §6: an IPv4 address, a bracketed IPv6 address, `unknown`, or an obfuscated
/// identifier (`_` then letters, digits, `.`, `_`, `-`), each optionally with `:port`.
fn forwarded_node(value: &str) -> Node {
    if value.starts_with('_') {
        let name = value.split_once(':').map_or(value, |(name, _)| name);
        let is_obfuscated = name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
        if is_obfuscated {
            return Node::Usable(name.to_owned());
        }
    }
    address_node(value)
}

fn unquote(text: &str) -> &str {
    text.strip_prefix('"').and_then(|t| t.strip_suffix('"')).unwrap_or(text)
}

/// `192.0.2.1`, `192.0.2.1:8080`, `2001:db8::1`, `[2001:db8::1]` or `[2001:db8::1]:4711`.
fn parse_address(text: &str) -> Option<IpAddr> {
    if let Some(bracketed) = text.strip_prefix('[') {
        let (inside, after) = bracketed.split_once(']')?;
        let port_ok = after.is_empty() || after.strip_prefix(':').is_some_and(is_port);
        return port_ok.then(|| inside.parse::<Ipv6Addr>().ok().map(IpAddr::V6)).flatten();
    }
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(ip);
    }
    let (host, port) = text.rsplit_once(':')?;
    is_port(port).then(|| host.parse::<Ipv4Addr>().ok().map(IpAddr::V4)).flatten()
}

fn is_port(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) && text.parse::<u16>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timestamp::Timestamp;

    fn client(headers: &[(&str, &str)]) -> (Option<String>, Vec<String>) {
        let headers: Headers = headers.iter().copied().collect();
        let mut anomalies = Anomalies::new(Timestamp::default());
        let client = original_client(&headers, &mut anomalies);
        (client, anomalies.list.into_iter().map(|a| format!("{}: {}", a.kind, a.detail)).collect())
    }

    fn found(address: &str) -> (Option<String>, Vec<String>) {
        (Some(address.to_owned()), vec![])
    }

    #[test]
    fn x_forwarded_for_first_valid_address() {
        assert_eq!(client(&[("X-Forwarded-For", "203.0.113.7")]), found("203.0.113.7"));
        assert_eq!(client(&[("x-forwarded-for", " 203.0.113.7 , 10.0.0.1,10.0.0.2 ")]), found("203.0.113.7"));
        assert_eq!(client(&[("X-Forwarded-For", "203.0.113.7:51234, 10.0.0.1")]), found("203.0.113.7"));
        assert_eq!(client(&[("X-Forwarded-For", "2001:DB8:0:0::A, 10.0.0.1")]), found("2001:db8::a"));
        assert_eq!(client(&[("X-Forwarded-For", "[2001:db8::1]:4711")]), found("2001:db8::1"));
        assert_eq!(client(&[("X-Forwarded-For", "\"192.0.2.1\"")]), found("192.0.2.1"));
        assert_eq!(client(&[("X-Forwarded-For", "unknown, , 198.51.100.9")]), found("198.51.100.9"));
        // Several headers are one list, in order.
        assert_eq!(
            client(&[("X-Forwarded-For", "unknown"), ("X-Forwarded-For", "198.51.100.10")]),
            found("198.51.100.10")
        );
    }

    #[test]
    fn x_forwarded_for_garbage_is_skipped_and_reported() {
        let (address, anomalies) = client(&[("X-Forwarded-For", " garbage ,192.0.2.300, 203.0.113.8, junk")]);
        assert_eq!(address.as_deref(), Some("203.0.113.8"));
        assert_eq!(anomalies, ["forwarded_for_invalid: not an address in a forwarding header: garbage"]);
        let (address, anomalies) = client(&[("X-Forwarded-For", "[2001:db8::1]x, 1.2.3.4:99999, fe80::1%eth0")]);
        assert_eq!(address, None);
        assert_eq!(anomalies.len(), 1);
    }

    #[test]
    fn x_real_ip_when_no_forwarded_for() {
        assert_eq!(client(&[("X-Real-IP", " 192.0.2.44 "), ("Forwarded", "for=192.0.2.60")]), found("192.0.2.44"));
        assert_eq!(client(&[("X-Forwarded-For", "unknown"), ("X-Real-IP", "192.0.2.44")]), found("192.0.2.44"));
        assert_eq!(client(&[("X-Real-IP", "192.0.2.44"), ("X-Forwarded-For", "192.0.2.45")]), found("192.0.2.45"));
    }

    #[test]
    fn forwarded_header_forms() {
        assert_eq!(client(&[("Forwarded", "for=192.0.2.60;proto=http;by=203.0.113.43")]), found("192.0.2.60"));
        assert_eq!(client(&[("Forwarded", "for=\"[2001:db8::1]:4711\"")]), found("2001:db8::1"));
        assert_eq!(client(&[("Forwarded", "proto=https; For=\"192.0.2.61:8443\"")]), found("192.0.2.61"));
        assert_eq!(client(&[("Forwarded", "for=192.0.2.43, for=198.51.100.17")]), found("192.0.2.43"));
        assert_eq!(client(&[("Forwarded", "for=unknown, for=198.51.100.17")]), found("198.51.100.17"));
        assert_eq!(client(&[("Forwarded", "for=_hidden, for=198.51.100.17")]), found("_hidden"));
        assert_eq!(client(&[("Forwarded", "for=\"_SEVKISEK:_port\"")]), found("_SEVKISEK"));
        assert_eq!(client(&[("Forwarded", "by=203.0.113.43;proto=http, for=198.51.100.18")]), found("198.51.100.18"));
        let (address, anomalies) = client(&[("Forwarded", "for=_bad!id, for=198.51.100.19")]);
        assert_eq!(address.as_deref(), Some("198.51.100.19"));
        assert_eq!(anomalies, ["forwarded_for_invalid: not an address in a forwarding header: for=_bad!id"]);
        assert_eq!(client(&[("Forwarded", "proto=http")]), (None, vec![]));
    }

    #[test]
    fn nothing_forwarded() {
        assert_eq!(client(&[]), (None, vec![]));
        assert_eq!(client(&[("X-Forwarded-For", ""), ("Forwarded", "")]), (None, vec![]));
    }
}
