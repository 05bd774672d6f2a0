//! Server identity: which CAS server handled a transaction or a TLS connection.
//!
//! Evidence kinds, most specific first (the order `--server-id auto` tries them in):
//! 1. `names`: the user's naming file names the server address (`--servers`);
//! 2. `header`: the response's `X-FEServer` (the front end the balancer picked), else
//!    `X-CalculatedBETarget`/`X-BEServer`, else the server `X-DiagInfo` names;
//! 3. `cookie`: the balancer's persistence cookie the response set, else the one the request
//!    sent (HAProxy: the server's label; F5: the decoded pool member address, named through the
//!    naming file when it knows it; Citrix and configured cookies: `name=value`; AWS cookies are
//!    encrypted and rotate, so they name no server);
//! 4. `address`: the server address and port, unless it is a virtual address of the balancer.
//!
//! Servers are interned by display name ([`ServerId`]). Evidence that appears together (an
//! address and the header its responses carry, a set cookie and the header of the same
//! response) is recorded as an alias of the most specific name, so that the same server reached
//! through other evidence (refused connections to its address, a cookie sent without a header)
//! is counted once. An address seen behind two different servers is a balancer's virtual address
//! (learned VIP): it names no server from then on.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use crate::evidence::{CookieSource, LbCookie, LbCookieKind, TransactionEvidence};

/// How `--server-id` picks the server of a transaction.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub enum ServerIdMode {
    /// The most specific evidence present: names, header, cookie, address.
    #[default]
    Auto,
    /// The server address:port (shown by its name when the naming file has one).
    Address,
    /// Response headers only.
    Header,
    /// Balancer cookies only.
    Cookie,
    /// Only addresses the naming file names.
    Names,
}

/// Which evidence gave a transaction's server.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ServerSource {
    Names,
    Header,
    Cookie,
    Address,
}

impl ServerSource {
    pub fn as_str(self) -> &'static str {
        match self {
            ServerSource::Names => "names",
            ServerSource::Header => "header",
            ServerSource::Cookie => "cookie",
            ServerSource::Address => "address",
        }
    }
}

/// What the naming file says about one address.
#[derive(Clone, Debug, PartialEq, Eq)]
enum NameEntry {
    Server(String),
    Vip,
}

/// The naming file (`--servers`): one `address[:port] name` or `address[:port] vip` per line,
/// `#` starts a comment. An entry without port applies to every port of the address; one with a
/// port wins over it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerNames {
    by_endpoint: HashMap<SocketAddr, NameEntry>,
    by_address: HashMap<IpAddr, NameEntry>,
}

impl ServerNames {
    /// Parses the file's text; the error names the first bad line.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut names = ServerNames::default();
        for (number, line) in text.lines().enumerate() {
            let content = line.split('#').next().unwrap_or_default().trim();
            if content.is_empty() {
                continue;
            }
            let mut words = content.split_whitespace();
            let (Some(address), Some(name), None) = (words.next(), words.next(), words.next()) else {
                return Err(format!("line {}: expected `address[:port] name` or `address[:port] vip`", number + 1));
            };
            let entry = if name.eq_ignore_ascii_case("vip") { NameEntry::Vip } else { NameEntry::Server(name.to_owned()) };
            if let Ok(endpoint) = SocketAddr::from_str(address) {
                names.by_endpoint.insert(endpoint, entry);
            } else if let Ok(ip) = IpAddr::from_str(address.trim_start_matches('[').trim_end_matches(']')) {
                names.by_address.insert(ip, entry);
            } else {
                return Err(format!("line {}: `{address}` is not an address or address:port", number + 1));
            }
        }
        Ok(names)
    }

    pub fn load(path: &std::path::Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    fn lookup(&self, endpoint: SocketAddr) -> Option<&NameEntry> {
        self.by_endpoint.get(&endpoint).or_else(|| self.by_address.get(&endpoint.ip()))
    }

    pub fn is_vip(&self, endpoint: SocketAddr) -> bool {
        self.lookup(endpoint) == Some(&NameEntry::Vip)
    }

    pub fn name_of(&self, endpoint: SocketAddr) -> Option<&str> {
        match self.lookup(endpoint) {
            Some(NameEntry::Server(name)) => Some(name),
            _ => None,
        }
    }

    /// The name of an address written `ip:port` (an F5 cookie's pool member).
    fn name_of_text(&self, text: &str) -> Option<&str> {
        SocketAddr::from_str(text).ok().and_then(|endpoint| self.name_of(endpoint))
    }
}

/// A server, interned by its display name.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServerId(u32);

#[cfg(test)]
impl ServerId {
    /// A server id for tests that need no registry.
    pub fn test(n: u32) -> Self {
        ServerId(n)
    }
}

/// The server evidence one transaction (or TLS connection) carries, each already in display
/// form. Built by [`ServerRegistry::candidates`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Candidates {
    pub names: Option<String>,
    pub header: Option<String>,
    /// The balancer cookie's server and whether the response set it (else the request sent it).
    pub cookie: Option<(String, bool)>,
    /// The server endpoint, unless the naming file marks it as a VIP.
    pub address: Option<SocketAddr>,
}

impl Candidates {
    /// Fills the kinds `self` lacks from `other` (the other side of a stitched pair).
    pub fn merge(&mut self, other: &Candidates) {
        self.names = self.names.take().or_else(|| other.names.clone());
        self.header = self.header.take().or_else(|| other.header.clone());
        self.cookie = self.cookie.take().or_else(|| other.cookie.clone());
        self.address = self.address.or(other.address);
    }
}

/// The balancer cookie as a server name; `None` for cookies that name no server.
fn cookie_server(cookie: &LbCookie, names: &ServerNames) -> Option<String> {
    let value = cookie.value.trim_matches('"');
    if value.is_empty() {
        return None;
    }
    match cookie.kind {
        // Prefix mode writes `label~application value`.
        LbCookieKind::HaProxy => Some(value.split('~').next().unwrap_or(value).to_owned()),
        LbCookieKind::F5 => {
            let member = cookie.decoded_server.as_deref()?;
            Some(names.name_of_text(member).unwrap_or(member).to_owned())
        }
        LbCookieKind::Citrix | LbCookieKind::Extra => Some(format!("{}={value}", cookie.name)),
        LbCookieKind::AwsAlb | LbCookieKind::AwsElb => None,
    }
}

/// How an address relates to the servers, as learned from the evidence seen with it.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Alias {
    /// Nothing more specific seen with it yet.
    None,
    /// The same server as this more specific one.
    To(ServerId),
    /// Seen with two different servers: for an address, a VIP; for a cookie or header name,
    /// ambiguous, so it stands for itself.
    Conflict,
}

/// Interned servers, their aliases, and the addresses learned to be VIPs.
#[derive(Debug)]
pub struct ServerRegistry {
    mode: ServerIdMode,
    names: ServerNames,
    display: Vec<String>,
    ids: HashMap<String, ServerId>,
    /// The id of each address already interned, so that an address is formatted once.
    address_ids: HashMap<SocketAddr, ServerId>,
    aliases: Vec<Alias>,
    /// Which ids are addresses (`ip:port`), whose alias conflicts make them VIPs.
    is_address: Vec<bool>,
}

/// Longest alias chain followed; chains only ever point to more specific names, so this is
/// never reached in practice.
const MAX_ALIAS_DEPTH: usize = 8;

impl ServerRegistry {
    pub fn new(mode: ServerIdMode, names: ServerNames) -> Self {
        ServerRegistry {
            mode,
            names,
            display: Vec::new(),
            ids: HashMap::new(),
            address_ids: HashMap::new(),
            aliases: Vec::new(),
            is_address: Vec::new(),
        }
    }

    fn intern(&mut self, name: &str, is_address: bool) -> ServerId {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = ServerId(u32::try_from(self.display.len()).unwrap_or(u32::MAX));
        self.display.push(name.to_owned());
        self.aliases.push(Alias::None);
        self.is_address.push(is_address);
        self.ids.insert(name.to_owned(), id);
        id
    }

    fn address_id(&mut self, endpoint: SocketAddr) -> ServerId {
        if let Some(&id) = self.address_ids.get(&endpoint) {
            return id;
        }
        let id = self.intern(&endpoint.to_string(), true);
        self.address_ids.insert(endpoint, id);
        id
    }

    pub fn name(&self, id: ServerId) -> &str {
        self.display.get(id.0 as usize).map_or("", String::as_str)
    }

    /// The evidence of a transaction on a connection to `endpoint`.
    pub fn candidates(&self, endpoint: SocketAddr, ev: &TransactionEvidence) -> Candidates {
        let header = ev.fe_server.as_ref().or(ev.be_server.as_ref()).or(ev.diag_info.as_ref()).cloned();
        let cookie = match (&ev.lb_cookie_set, &ev.lb_cookie) {
            (Some(set), _) => cookie_server(set, &self.names).map(|name| (name, true)),
            (None, Some(sent)) => cookie_server(sent, &self.names).map(|name| (name, false)),
            (None, None) => None,
        };
        Candidates { header, cookie, ..self.endpoint_candidates(endpoint) }
    }

    /// The evidence of the endpoint alone (TLS connections, connection-level events).
    pub fn endpoint_candidates(&self, endpoint: SocketAddr) -> Candidates {
        if self.names.is_vip(endpoint) {
            return Candidates::default();
        }
        Candidates { names: self.names.name_of(endpoint).map(str::to_owned), address: Some(endpoint), ..Candidates::default() }
    }

    /// The server `candidates` designate under the mode, and the evidence used; then records
    /// every other kind present as an alias of it. `None` when the mode's evidence is missing.
    pub fn resolve(&mut self, c: &Candidates) -> Option<(ServerId, ServerSource)> {
        let named = c.names.as_deref().map(|n| (self.intern(n, false), ServerSource::Names));
        let header = c.header.as_deref().map(|n| (self.intern(n, false), ServerSource::Header));
        let cookie = c.cookie.as_ref().map(|(n, _)| (self.intern(n, false), ServerSource::Cookie));
        let address = c.address.map(|a| (self.address_id(a), ServerSource::Address));
        let chosen = match self.mode {
            ServerIdMode::Auto => named.or(header).or(cookie).or(address.filter(|&(id, _)| !self.is_vip(id))),
            ServerIdMode::Address => named.or(address.filter(|&(id, _)| !self.is_vip(id))),
            ServerIdMode::Header => header,
            ServerIdMode::Cookie => cookie,
            ServerIdMode::Names => named,
        };
        let (target, _) = chosen?;
        // A cookie the request sent may name a server the balancer did not use (redispatch):
        // only a cookie set with this response is the same server.
        let set_cookie = cookie.filter(|_| c.cookie.as_ref().is_some_and(|(_, set)| *set));
        for (other, _) in [named, header, set_cookie, address].into_iter().flatten() {
            self.learn(other, target);
        }
        let (id, source) = chosen?;
        Some((self.canonical(id).unwrap_or(id), source))
    }

    /// The server the persistence cookie a request sent pins it to, if the cookie names one.
    pub fn pinned_server(&mut self, ev: &TransactionEvidence) -> Option<ServerId> {
        let sent = ev.lb_cookie.as_ref().filter(|c| c.source == CookieSource::Sent)?;
        let name = cookie_server(sent, &self.names)?;
        let id = self.intern(&name, false);
        Some(self.canonical(id).unwrap_or(id))
    }

    /// The server behind an endpoint for connection-level events (refused connections,
    /// resets): its name, else its address; `None` for a VIP.
    pub fn endpoint_server(&mut self, endpoint: SocketAddr) -> Option<ServerId> {
        let c = self.endpoint_candidates(endpoint);
        let id = match c.names.as_deref() {
            Some(name) => self.intern(name, false),
            None => self.address_id(c.address?),
        };
        Some(id)
    }

    /// Records that `less` (less specific evidence) designates the same server as `more`.
    fn learn(&mut self, less: ServerId, more: ServerId) {
        let (Some(target), Some(current)) = (self.canonical(more), self.aliases.get(less.0 as usize).copied()) else {
            return;
        };
        if target == less || self.canonical(less) == Some(target) {
            return;
        }
        let next = match current {
            Alias::None => Alias::To(target),
            Alias::To(_) | Alias::Conflict => Alias::Conflict,
        };
        if let Some(slot) = self.aliases.get_mut(less.0 as usize) {
            *slot = next;
        }
    }

    /// Marks an endpoint as a balancer VIP (the client side of a stitched pair).
    pub fn mark_vip(&mut self, endpoint: SocketAddr) {
        let id = self.address_id(endpoint);
        if let Some(slot) = self.aliases.get_mut(id.0 as usize) {
            *slot = Alias::Conflict;
        }
    }

    fn is_vip(&self, id: ServerId) -> bool {
        let i = id.0 as usize;
        self.is_address.get(i) == Some(&true) && self.aliases.get(i) == Some(&Alias::Conflict)
    }

    /// The most specific server `id` is known to be; `None` when `id` is a VIP.
    pub fn canonical(&self, id: ServerId) -> Option<ServerId> {
        let mut id = id;
        for _ in 0..MAX_ALIAS_DEPTH {
            if self.is_vip(id) {
                return None;
            }
            match self.aliases.get(id.0 as usize) {
                Some(Alias::To(next)) => id = *next,
                _ => return Some(id),
            }
        }
        Some(id)
    }

    /// Every address learned or named as a VIP, for the summary.
    pub fn vips(&self) -> Vec<String> {
        let learned = self.display.iter().enumerate().filter(|&(i, _)| self.is_vip(ServerId(i as u32))).map(|(_, name)| name.clone());
        let named = self.names.by_endpoint.iter().filter(|(_, e)| **e == NameEntry::Vip).map(|(a, _)| a.to_string());
        let named_hosts = self.names.by_address.iter().filter(|(_, e)| **e == NameEntry::Vip).map(|(a, _)| a.to_string());
        let mut all: Vec<String> = learned.chain(named).chain(named_hosts).collect();
        all.sort();
        all.dedup();
        all
    }

    /// The addresses known to be `server` (aliases of it), comma-separated.
    pub fn addresses_of(&self, server: ServerId) -> String {
        let mut found: Vec<&str> = self
            .display
            .iter()
            .enumerate()
            .filter(|&(i, _)| self.is_address.get(i) == Some(&true) && self.canonical(ServerId(i as u32)) == Some(server))
            .map(|(_, name)| name.as_str())
            .collect();
        found.sort_unstable();
        found.join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    #[test]
    fn naming_file() {
        let names = ServerNames::parse(
            "# farm\n10.0.0.11:443 CAS01\n10.0.0.12 CAS02   # every port\n10.0.0.100:443 vip\n[2001:db8::1]:443 CAS03\n\n",
        )
        .unwrap();
        assert_eq!(names.name_of(endpoint("10.0.0.11:443")), Some("CAS01"));
        assert_eq!(names.name_of(endpoint("10.0.0.11:80")), None);
        assert_eq!(names.name_of(endpoint("10.0.0.12:8443")), Some("CAS02"));
        assert_eq!(names.name_of(endpoint("[2001:db8::1]:443")), Some("CAS03"));
        assert!(names.is_vip(endpoint("10.0.0.100:443")));
        assert!(!names.is_vip(endpoint("10.0.0.100:80")));
        assert_eq!(ServerNames::parse("10.0.0.1\n").unwrap_err(), "line 1: expected `address[:port] name` or `address[:port] vip`");
        assert_eq!(ServerNames::parse("\nmail CAS01\n").unwrap_err(), "line 2: `mail` is not an address or address:port");
        assert_eq!(ServerNames::parse("10.0.0.1 a b\n").unwrap_err(), "line 1: expected `address[:port] name` or `address[:port] vip`");
    }

    fn candidates(names: Option<&str>, header: Option<&str>, cookie: Option<(&str, bool)>, address: Option<&str>) -> Candidates {
        Candidates {
            names: names.map(str::to_owned),
            header: header.map(str::to_owned),
            cookie: cookie.map(|(n, set)| (n.to_owned(), set)),
            address: address.map(endpoint),
        }
    }

    #[test]
    fn auto_prefers_the_most_specific_evidence() {
        let mut registry = ServerRegistry::new(ServerIdMode::Auto, ServerNames::default());
        let all = candidates(Some("cas01.contoso.com"), Some("CAS01"), Some(("s1", true)), Some("10.0.0.11:443"));
        let (id, source) = registry.resolve(&all).unwrap();
        assert_eq!((registry.name(id), source), ("cas01.contoso.com", ServerSource::Names));
        // The other evidence is now an alias of the named server.
        for c in [
            candidates(None, Some("CAS01"), None, None),
            candidates(None, None, Some(("s1", false)), None),
            candidates(None, None, None, Some("10.0.0.11:443")),
        ] {
            let (id, _) = registry.resolve(&c).unwrap();
            assert_eq!(registry.name(id), "cas01.contoso.com");
        }
        let (id, source) = registry.resolve(&candidates(None, None, Some(("s2", false)), Some("10.0.0.12:443"))).unwrap();
        assert_eq!((registry.name(id), source), ("s2", ServerSource::Cookie));
        assert_eq!(registry.resolve(&Candidates::default()), None);
    }

    #[test]
    fn a_sent_cookie_is_no_alias_and_an_address_behind_two_servers_is_a_vip() {
        let mut registry = ServerRegistry::new(ServerIdMode::Auto, ServerNames::default());
        // Redispatched: the request sent CAS02's cookie, CAS01 answered.
        registry.resolve(&candidates(None, Some("CAS01"), Some(("CAS02", false)), Some("10.0.0.100:80"))).unwrap();
        let (id, _) = registry.resolve(&candidates(None, None, Some(("CAS02", false)), None)).unwrap();
        assert_eq!(registry.name(id), "CAS02");
        // Until a second server shows up behind it, the address stands for CAS01.
        let (id, _) = registry.resolve(&candidates(None, None, None, Some("10.0.0.100:80"))).unwrap();
        assert_eq!(registry.name(id), "CAS01");
        registry.resolve(&candidates(None, Some("CAS03"), None, Some("10.0.0.100:80"))).unwrap();
        assert_eq!(registry.resolve(&candidates(None, None, None, Some("10.0.0.100:80"))), None);
        assert_eq!(registry.vips(), vec!["10.0.0.100:80".to_owned()]);
        assert_eq!(registry.endpoint_server(endpoint("10.0.0.100:80")).and_then(|id| registry.canonical(id)), None);
    }

    #[test]
    fn modes_use_only_their_evidence() {
        let all = candidates(Some("cas01"), Some("CAS01"), Some(("s1", true)), Some("10.0.0.11:443"));
        let cases = [
            (ServerIdMode::Address, Some(("cas01", ServerSource::Names))),
            (ServerIdMode::Header, Some(("CAS01", ServerSource::Header))),
            (ServerIdMode::Cookie, Some(("s1", ServerSource::Cookie))),
            (ServerIdMode::Names, Some(("cas01", ServerSource::Names))),
        ];
        for (mode, expected) in cases {
            let mut registry = ServerRegistry::new(mode, ServerNames::default());
            let got = registry.resolve(&all).map(|(id, s)| (registry.name(id).to_owned(), s));
            assert_eq!(got.as_ref().map(|(n, s)| (n.as_str(), *s)), expected, "{mode:?}");
        }
        let mut registry = ServerRegistry::new(ServerIdMode::Address, ServerNames::default());
        let (id, _) = registry.resolve(&candidates(None, Some("CAS01"), None, Some("10.0.0.11:443"))).unwrap();
        assert_eq!(registry.name(id), "10.0.0.11:443");
        let mut registry = ServerRegistry::new(ServerIdMode::Names, ServerNames::default());
        assert_eq!(registry.resolve(&candidates(None, Some("CAS01"), None, Some("10.0.0.11:443"))), None);
    }

    #[test]
    fn cookies_as_server_names() {
        let names = ServerNames::parse("10.1.1.100:80 CAS07\n").unwrap();
        let cookie = |kind, name: &str, value: &str, decoded: Option<&str>| LbCookie {
            kind,
            name: name.to_owned(),
            value: value.to_owned(),
            decoded_server: decoded.map(str::to_owned),
            source: crate::evidence::CookieSource::Set,
        };
        let cases = [
            (cookie(LbCookieKind::HaProxy, "SERVERID", "CAS01", None), Some("CAS01")),
            (cookie(LbCookieKind::HaProxy, "SERVERID", "s1~appvalue", None), Some("s1")),
            (cookie(LbCookieKind::HaProxy, "SERVERID", "", None), None),
            (cookie(LbCookieKind::F5, "BIGipServerpool", "1677787402.20480.0000", Some("10.1.1.100:80")), Some("CAS07")),
            (cookie(LbCookieKind::F5, "BIGipServerpool", "1677787402.20736.0000", Some("10.1.1.100:81")), Some("10.1.1.100:81")),
            (cookie(LbCookieKind::F5, "BIGipServerpool", "!encrypted", None), None),
            (cookie(LbCookieKind::Citrix, "NSC_exch", "ffffffff09", None), Some("NSC_exch=ffffffff09")),
            (cookie(LbCookieKind::AwsAlb, "AWSALB", "opaque", None), None),
        ];
        for (c, expected) in cases {
            assert_eq!(cookie_server(&c, &names).as_deref(), expected, "{c:?}");
        }
    }
}
