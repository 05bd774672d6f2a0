//! Cookies: which names the audit tracks, how to read them from `Cookie` and `Set-Cookie`, and
//! what a balancer's persistence cookie says about the server it pins the client to.
//!
//! Names are matched exactly, case-sensitively, as browsers do: `cadata` is Exchange's,
//! `CADATA` is not. Values are kept only as [`TokenDigest`]s of what the wire gave (trimmed,
//! quotes included), so that a value sent can be compared with the value set while no live
//! session token leaves this stage; balancer cookies, which name servers, not sessions, are
//! also kept whole ([`LbCookie`]).

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use super::EXCHANGE_COOKIES;
use crate::fingerprint::{FastHash, TokenDigest};

/// Which load balancer a persistence cookie belongs to.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LbCookieKind {
    /// HAProxy's `cookie SERVERID insert|rewrite|prefix`: the value is the server's `cookie`
    /// label (in prefix mode, the label then `~` and the application's value).
    HaProxy,
    /// F5 BIG-IP `BIGipServer<pool>`: the value encodes the pool member (see [`decode_f5_cookie`]).
    F5,
    /// Citrix NetScaler `NSC_<obfuscated virtual server name>`.
    Citrix,
    /// AWS Application Load Balancer: `AWSALB`, `AWSALBCORS`, `AWSALBTG`, `AWSALBTGCORS`,
    /// `AWSALBAPP-<n>` (opaque, encrypted by AWS).
    AwsAlb,
    /// AWS Classic Load Balancer: `AWSELB` (opaque).
    AwsElb,
    /// A name from `EvidenceConfig::lb_cookies`.
    Extra,
}

impl LbCookieKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LbCookieKind::HaProxy => "haproxy",
            LbCookieKind::F5 => "f5",
            LbCookieKind::Citrix => "citrix",
            LbCookieKind::AwsAlb => "aws_alb",
            LbCookieKind::AwsElb => "aws_elb",
            LbCookieKind::Extra => "extra",
        }
    }
}

/// Which message carried a cookie.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CookieSource {
    /// The request's `Cookie` header.
    Sent,
    /// The response's `Set-Cookie` header.
    Set,
}

/// A balancer's persistence cookie.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LbCookie {
    pub kind: LbCookieKind,
    pub name: String,
    pub value: String,
    /// The pool member the value designates, when the balancer's encoding is public and the
    /// value is not encrypted: F5 only, for example `10.1.1.100:80`.
    pub decoded_server: Option<String>,
    pub source: CookieSource,
}

impl LbCookie {
    fn new(kind: LbCookieKind, name: &str, value: &str, source: CookieSource) -> Self {
        let decoded_server = match kind {
            LbCookieKind::F5 => decode_f5_cookie(value),
            _ => None,
        };
        LbCookie { kind, name: name.to_owned(), value: value.to_owned(), decoded_server, source }
    }
}

/// A tracked cookie's name: one of [`EXCHANGE_COOKIES`] (by index), or another tracked name.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum CookieName {
    Exchange(usize),
    Other(String),
}

impl CookieName {
    pub fn of(name: &str) -> Self {
        match EXCHANGE_COOKIES.iter().position(|&n| n == name) {
            Some(index) => CookieName::Exchange(index),
            None => CookieName::Other(name.to_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            CookieName::Exchange(index) => EXCHANGE_COOKIES.get(*index).copied().unwrap_or_default(),
            CookieName::Other(name) => name,
        }
    }
}

/// A tracked cookie as the evidence keeps it: its name and digests of its value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrackedCookie {
    pub name: CookieName,
    /// Digest of the value as the wire gave it (quotes included): what the reports show.
    pub digest: TokenDigest,
    /// Digest of the value inside its quotes, `None` when that is empty (a deletion): the
    /// session token the cookie carries.
    pub token: Option<TokenDigest>,
}

impl TrackedCookie {
    pub fn new(name: CookieName, value: &str) -> Self {
        let digest = TokenDigest::of(value);
        let token = match value.trim_matches('"') {
            "" => None,
            unquoted if unquoted.len() == value.len() => Some(digest),
            unquoted => Some(TokenDigest::of(unquoted)),
        };
        TrackedCookie { name, digest, token }
    }
}

/// The `name=value` pairs of a `Cookie` header (RFC 6265 §4.2.1), leniently: values may hold
/// `=` and quotes; pieces without `=` or without a name are skipped.
pub(super) fn request_cookies(header: &str) -> impl Iterator<Item = (&str, &str)> {
    header.split(';').filter_map(name_value)
}

/// The `name=value` that opens a `Set-Cookie` header (RFC 6265 §4.1.1); attributes are ignored.
pub(super) fn set_cookie_pair(header: &str) -> Option<(&str, &str)> {
    header.split(';').next().and_then(name_value)
}

fn name_value(piece: &str) -> Option<(&str, &str)> {
    let (name, value) = piece.split_once('=')?;
    let name = name.trim();
    (!name.is_empty()).then(|| (name, value.trim()))
}

/// Index of `logondata`, whose `lgn` field names the OWA user, in [`EXCHANGE_COOKIES`].
const LOGONDATA: usize = 5;

/// Why a cookie name is tracked.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Tracked {
    /// Recorded: an Exchange cookie or an extra one.
    Plain,
    /// Recorded and read as a balancer's persistence cookie.
    Balancer(LbCookieKind),
}

/// Names of balancer cookies that are fixed, not prefixes.
const BALANCER_NAMES: [(&str, LbCookieKind); 6] = [
    ("SERVERID", LbCookieKind::HaProxy),
    ("AWSALB", LbCookieKind::AwsAlb),
    ("AWSALBCORS", LbCookieKind::AwsAlb),
    ("AWSALBTG", LbCookieKind::AwsAlb),
    ("AWSALBTGCORS", LbCookieKind::AwsAlb),
    ("AWSELB", LbCookieKind::AwsElb),
];

/// Balancer cookies named by a prefix and a pool, server or index.
const BALANCER_PREFIXES: [(&str, LbCookieKind); 3] =
    [("BIGipServer", LbCookieKind::F5), ("NSC_", LbCookieKind::Citrix), ("AWSALBAPP-", LbCookieKind::AwsAlb)];

/// The tracked cookies of one message, in order, and the first balancer cookie among them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct TrackedCookies {
    pub cookies: Vec<TrackedCookie>,
    pub balancer: Option<LbCookie>,
    /// Of the first `logondata` cookie, if any: its logon name (`None` without `lgn` field).
    pub logondata: Option<Option<String>>,
}

/// A name looked up exactly: why it is tracked, and its place among Exchange's cookies
/// (independent of the reason: an Exchange name configured as a balancer's is both).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
struct ExactName {
    tracked: Tracked,
    exchange: Option<usize>,
}

/// Tells which cookie names are tracked, and which of them are balancers'.
#[derive(Clone, Debug)]
pub(super) struct CookieClassifier {
    /// A fixed table, so a fast non-keyed hash is safe (see [`FastHash`]).
    exact: HashMap<String, ExactName, FastHash>,
}

impl CookieClassifier {
    /// When a name is in several lists, the balancer reading wins: configured balancer names
    /// over built-in ones, which are over plain names.
    pub fn new(extra_cookies: &[String], lb_cookies: &[String]) -> Self {
        let plain = EXCHANGE_COOKIES
            .iter()
            .copied()
            .chain(extra_cookies.iter().map(String::as_str))
            .map(|n| (n, Tracked::Plain));
        let built_in = BALANCER_NAMES.iter().map(|&(n, kind)| (n, Tracked::Balancer(kind)));
        let configured = lb_cookies.iter().map(|n| (n.as_str(), Tracked::Balancer(LbCookieKind::Extra)));
        let exact = plain
            .chain(built_in)
            .chain(configured)
            .map(|(n, tracked)| {
                let exchange = EXCHANGE_COOKIES.iter().position(|&e| e == n);
                (n.to_owned(), ExactName { tracked, exchange })
            })
            .collect();
        CookieClassifier { exact }
    }

    /// Why `name` is tracked and its name as kept; `None` when it is not tracked.
    fn lookup(&self, name: &str) -> Option<(Tracked, CookieName)> {
        if let Some(exact) = self.exact.get(name) {
            let kept = exact.exchange.map_or_else(|| CookieName::Other(name.to_owned()), CookieName::Exchange);
            return Some((exact.tracked, kept));
        }
        let (_, kind) = BALANCER_PREFIXES.iter().find(|(prefix, _)| name.starts_with(prefix))?;
        Some((Tracked::Balancer(*kind), CookieName::Other(name.to_owned())))
    }

    #[cfg(test)]
    fn classify(&self, name: &str) -> Option<Tracked> {
        self.lookup(name).map(|(tracked, _)| tracked)
    }

    /// Keeps the tracked cookies among `pairs`, in order, as digests.
    pub fn collect<'a>(&self, pairs: impl Iterator<Item = (&'a str, &'a str)>, source: CookieSource) -> TrackedCookies {
        let mut tracked = TrackedCookies::default();
        for (name, value) in pairs {
            let Some((how, kept)) = self.lookup(name) else { continue };
            if let (Tracked::Balancer(kind), None) = (how, &tracked.balancer) {
                tracked.balancer = Some(LbCookie::new(kind, name, value, source));
            }
            if kept == CookieName::Exchange(LOGONDATA) && tracked.logondata.is_none() {
                tracked.logondata = Some(logon_name(value));
            }
            if tracked.cookies.is_empty() {
                // Room for a whole OWA session's cookies at once, rather than growing thrice.
                tracked.cookies.reserve(EXCHANGE_COOKIES.len());
            }
            tracked.cookies.push(TrackedCookie::new(kept, value));
        }
        tracked
    }
}

/// The `lgn` field of an OWA `logondata` value (`acc=0&lgn=DOMAIN%5Cuser`), percent-decoded.
fn logon_name(logondata: &str) -> Option<String> {
    let raw = logondata.trim_matches('"').split('&').find_map(|field| field.strip_prefix("lgn="))?;
    Some(percent_decode(raw))
}

/// `%XX` escapes decoded as Latin-1 bytes of UTF-8 text; malformed escapes kept as written.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let escaped = (b == b'%').then(|| bytes.get(i + 1..i + 3)).flatten().and_then(|hex| {
            std::str::from_utf8(hex).ok().and_then(|h| u8::from_str_radix(h, 16).ok())
        });
        match escaped {
            Some(value) => {
                out.push(value);
                i += 3;
            }
            None => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The pool member a `BIGipServer<pool>` value designates, in the four forms of F5's K6917;
/// `None` for an encrypted value (profile option `cookie-encryption`) or anything else.
///
/// - IPv4: `<address>.<port>.0000`, both decimal integers of the little-endian bytes:
///   `1677787402.20480.0000` → `10.1.1.100:80`.
/// - IPv4 or IPv6 in a route domain: `rd<domain>o<32 hex digits>o<port>`, address in network
///   order, port plain: `rd5o00000000000000000000ffffc0000201o80` → `192.0.2.1%5:80` (F5's
///   `%` notation for the route domain).
/// - IPv6: `vi<32 hex digits>.<port>`, port as in the IPv4 form:
///   `vi20010112000000000000000000000030.20480` → `[2001:112::30]:80`.
pub fn decode_f5_cookie(value: &str) -> Option<String> {
    let value = value.trim_matches('"');
    if let Some(rest) = value.strip_prefix("rd") {
        decode_f5_route_domain(rest)
    } else if let Some(rest) = value.strip_prefix("vi") {
        decode_f5_ipv6(rest)
    } else {
        decode_f5_ipv4(value)
    }
}

fn decode_f5_ipv4(value: &str) -> Option<String> {
    let mut fields = value.split('.');
    let address: u32 = parse_decimal(fields.next()?)?;
    let port: u16 = parse_decimal(fields.next()?)?;
    let reserved = fields.next()?;
    if fields.next().is_some() || !is_decimal(reserved) {
        return None;
    }
    // a.b.c.d was encoded as a + b·2⁸ + c·2¹⁶ + d·2²⁴, and the port with its two bytes swapped.
    Some(format!("{}:{}", Ipv4Addr::from(address.to_le_bytes()), port.swap_bytes()))
}

fn decode_f5_ipv6(rest: &str) -> Option<String> {
    let (hex, port) = rest.split_once('.')?;
    let address = Ipv6Addr::from(parse_hex_u128(hex)?);
    let port: u16 = parse_decimal(port)?;
    Some(format!("[{address}]:{}", port.swap_bytes()))
}

fn decode_f5_route_domain(rest: &str) -> Option<String> {
    let mut fields = rest.split('o');
    let domain: u16 = parse_decimal(fields.next()?)?;
    let address = Ipv6Addr::from(parse_hex_u128(fields.next()?)?);
    let port: u16 = parse_decimal(fields.next()?)?;
    if fields.next().is_some() {
        return None;
    }
    Some(match address.to_ipv4_mapped() {
        Some(v4) => format!("{v4}%{domain}:{port}"),
        None => format!("[{address}%{domain}]:{port}"),
    })
}

fn is_decimal(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

/// Digits only: `FromStr` alone would also take a leading `+`.
fn parse_decimal<T: FromStr>(text: &str) -> Option<T> {
    is_decimal(text).then(|| text.parse().ok()).flatten()
}

/// Exactly 32 hex digits: a whole IPv6 address in network order.
fn parse_hex_u128(text: &str) -> Option<u128> {
    let is_address = text.len() == 32 && text.bytes().all(|b| b.is_ascii_hexdigit());
    is_address.then(|| u128::from_str_radix(text, 16).ok()).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names_and_values(pairs: &[(&str, &str)]) -> Vec<(String, TokenDigest)> {
        pairs.iter().map(|&(n, v)| (n.to_owned(), TokenDigest::of(v))).collect()
    }

    fn kept(tracked: &TrackedCookies) -> Vec<(String, TokenDigest)> {
        tracked.cookies.iter().map(|c| (c.name.as_str().to_owned(), c.digest)).collect()
    }

    #[test]
    fn cookie_header_pairs_tolerate_equals_quotes_and_garbage() {
        let header = r#"a=b; c=d=e==; q="quoted; x"; lonely;=novalue; ; sp = v w ;f="""#;
        let pairs: Vec<_> = request_cookies(header).collect();
        assert_eq!(pairs, vec![("a", "b"), ("c", "d=e=="), ("q", "\"quoted"), ("sp", "v w"), ("f", "\"\"")]);
        assert_eq!(request_cookies("").count(), 0);
        assert_eq!(request_cookies(";;;===").count(), 0);
    }

    #[test]
    fn set_cookie_pair_ignores_attributes() {
        assert_eq!(set_cookie_pair("cadata=\"abc==\"; path=/; secure; HttpOnly"), Some(("cadata", "\"abc==\"")));
        assert_eq!(set_cookie_pair("cadata=; expires=Thu, 01-Jan-1970 00:00:00 GMT"), Some(("cadata", "")));
        assert_eq!(set_cookie_pair(" SERVERID=s1 "), Some(("SERVERID", "s1")));
        assert_eq!(set_cookie_pair("path=/"), Some(("path", "/")));
        assert_eq!(set_cookie_pair("novalue; path=/"), None);
        assert_eq!(set_cookie_pair(""), None);
    }

    #[test]
    fn tracks_exchange_extra_and_balancer_names_exactly() {
        let classifier = CookieClassifier::new(&["X-BackEndCookie".to_owned()], &["ROUTEID".to_owned()]);
        let header = "cadata=1; CADATA=2; X-BackEndCookie=3; junk=4; ROUTEID=.n1; BIGipServerpool_owa=1677787402.20480.0000; tzid=5";
        let tracked = classifier.collect(request_cookies(header), CookieSource::Sent);
        assert_eq!(
            kept(&tracked),
            names_and_values(&[
                ("cadata", "1"),
                ("X-BackEndCookie", "3"),
                ("ROUTEID", ".n1"),
                ("BIGipServerpool_owa", "1677787402.20480.0000"),
                ("tzid", "5"),
            ])
        );
        // The first balancer cookie wins.
        assert_eq!(
            tracked.balancer,
            Some(LbCookie {
                kind: LbCookieKind::Extra,
                name: "ROUTEID".to_owned(),
                value: ".n1".to_owned(),
                decoded_server: None,
                source: CookieSource::Sent,
            })
        );
    }

    #[test]
    fn values_are_kept_as_digests_with_and_without_quotes() {
        let quoted = TrackedCookie::new(CookieName::of("cadata"), "\"TOKEN\"");
        assert_eq!(quoted.name, CookieName::Exchange(2));
        assert_eq!(quoted.digest, TokenDigest::of("\"TOKEN\""));
        assert_eq!(quoted.token, Some(TokenDigest::of("TOKEN")));
        let plain = TrackedCookie::new(CookieName::of("X-BackEndCookie"), "TOKEN");
        assert_eq!(plain.name, CookieName::Other("X-BackEndCookie".to_owned()));
        assert_eq!((plain.digest, plain.token), (TokenDigest::of("TOKEN"), Some(TokenDigest::of("TOKEN"))));
        for deleted in ["", "\"\""] {
            let cookie = TrackedCookie::new(CookieName::of("cadata"), deleted);
            assert_eq!((cookie.digest, cookie.token), (TokenDigest::of(deleted), None), "{deleted}");
        }
    }

    #[test]
    fn cookie_names_by_index() {
        for (index, name) in EXCHANGE_COOKIES.iter().enumerate() {
            assert_eq!(CookieName::of(name), CookieName::Exchange(index));
            assert_eq!(CookieName::of(name).as_str(), *name);
        }
        assert_eq!(CookieName::of("CADATA").as_str(), "CADATA");
        assert_eq!(CookieName::Exchange(15).as_str(), "");
        assert_eq!(EXCHANGE_COOKIES[LOGONDATA], "logondata");
    }

    #[test]
    fn logon_name_of_the_first_logondata() {
        let classifier = CookieClassifier::new(&[], &[]);
        let header = "logondata=acc=0&lgn=CONTOSO%5CUser4; logondata=acc=0&lgn=other";
        let tracked = classifier.collect(request_cookies(header), CookieSource::Sent);
        assert_eq!(tracked.logondata, Some(Some("CONTOSO\\User4".to_owned())));
        let tracked = classifier.collect(request_cookies("logondata=acc=0; logondata=lgn=x"), CookieSource::Sent);
        assert_eq!(tracked.logondata, Some(None));
        assert_eq!(classifier.collect(request_cookies("cadata=1"), CookieSource::Sent).logondata, None);
        assert_eq!(logon_name("\"acc=0&lgn=a%40b\""), Some("a@b".to_owned()));
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("CONTOSO%5Cuser%40x"), "CONTOSO\\user@x");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(percent_decode("%C3%A9"), "é");
    }

    #[test]
    fn recognises_every_built_in_balancer() {
        let classifier = CookieClassifier::new(&[], &[]);
        let cases = [
            ("SERVERID", LbCookieKind::HaProxy),
            ("BIGipServer~Common~pool", LbCookieKind::F5),
            ("NSC_wtfswfs_pxb", LbCookieKind::Citrix),
            ("AWSALB", LbCookieKind::AwsAlb),
            ("AWSALBCORS", LbCookieKind::AwsAlb),
            ("AWSALBTG", LbCookieKind::AwsAlb),
            ("AWSALBTGCORS", LbCookieKind::AwsAlb),
            ("AWSALBAPP-0", LbCookieKind::AwsAlb),
            ("AWSELB", LbCookieKind::AwsElb),
        ];
        for (name, kind) in cases {
            assert_eq!(classifier.classify(name), Some(Tracked::Balancer(kind)), "{name}");
        }
        for name in ["serverid", "bigipserverpool", "NSC", "AWSALB2", "Awselb"] {
            assert_eq!(classifier.classify(name), None, "{name}");
        }
        for name in EXCHANGE_COOKIES {
            assert_eq!(classifier.classify(name), Some(Tracked::Plain), "{name}");
        }
    }

    #[test]
    fn configured_balancer_name_overrides_plain_and_built_in() {
        let classifier =
            CookieClassifier::new(&["SERVERID".to_owned(), "sessionid".to_owned()], &["sessionid".to_owned()]);
        assert_eq!(classifier.classify("sessionid"), Some(Tracked::Balancer(LbCookieKind::Extra)));
        assert_eq!(classifier.classify("SERVERID"), Some(Tracked::Balancer(LbCookieKind::HaProxy)));
    }

    #[test]
    fn f5_balancer_cookie_is_decoded_when_collected() {
        let classifier = CookieClassifier::new(&[], &[]);
        let set = classifier.collect(
            set_cookie_pair("BIGipServerpool=\"1677787402.36895.0000\"; path=/").into_iter(),
            CookieSource::Set,
        );
        let cookie = set.balancer.expect("an F5 cookie");
        assert_eq!(cookie.kind, LbCookieKind::F5);
        assert_eq!(cookie.value, "\"1677787402.36895.0000\"");
        assert_eq!(cookie.decoded_server.as_deref(), Some("10.1.1.100:8080"));
        assert_eq!(cookie.source, CookieSource::Set);
    }

    /// Vectors: F5 K6917's own examples, and IPv4 ones computed as
    /// `a + b·256 + c·256² + d·256³` . `((port & 0xff) << 8) | (port >> 8)` . `0000`, e.g.
    /// 10.10.13.123 = 10 + 10·256 + 13·65536 + 123·16777216 = 2064452106 and
    /// 443 = 0x01BB → 0xBB01 = 47873; 192.168.1.1 = 192 + 168·256 + 65536 + 16777216 = 16885952.
    #[test]
    fn f5_known_vectors() {
        let cases = [
            ("1677787402.20480.0000", "10.1.1.100:80"),
            ("1677787402.36895.0000", "10.1.1.100:8080"),
            ("2064452106.47873.0000", "10.10.13.123:443"),
            ("1701187756.20480.0000", "172.16.102.101:80"),
            ("16885952.47873.0000", "192.168.1.1:443"),
            ("4294967295.65535.0000", "255.255.255.255:65535"),
            ("0.0.0000", "0.0.0.0:0"),
            ("rd5o00000000000000000000ffffc0000201o80", "192.0.2.1%5:80"),
            ("rd3o20010112000000000000000000000030o80", "[2001:112::30%3]:80"),
            ("vi20010112000000000000000000000030.20480", "[2001:112::30]:80"),
            ("vi20010DB8000000000000000000000001.47873", "[2001:db8::1]:443"),
            ("\"1677787402.20480.0000\"", "10.1.1.100:80"),
        ];
        for (value, server) in cases {
            assert_eq!(decode_f5_cookie(value).as_deref(), Some(server), "{value}");
        }
    }

    #[test]
    fn f5_encrypted_or_malformed_values_are_not_decoded() {
        let cases = [
            "!Yt7OH9AA3p5FeMnXgHbBVGsAcLYmBqCHR4Sx2o5MAX0ZU0nD2Q2ZrI4w3mm5OVHYnyQnNZq0RBHgGg==",
            "",
            "1677787402.20480",
            "1677787402.20480.0000.1",
            "1677787402.20480.00x0",
            "4294967296.20480.0000",
            "1677787402.65536.0000",
            "+1677787402.20480.0000",
            "1677787402..0000",
            "vi2001011200000000000000000000003.20480",
            "vi20010112000000000000000000000030",
            "vi+0010112000000000000000000000030.20480",
            "vi20010112000000000000000000000030.80000",
            "rd5o00000000000000000000ffffc0000201",
            "rd5o00000000000000000000ffffc0000201o80o1",
            "rdo00000000000000000000ffffc0000201o80",
            "rd70000o00000000000000000000ffffc0000201o80",
            "rd5o00000000000000000000ffffc00002g1o80",
            "é.ü.0000",
        ];
        for value in cases {
            assert_eq!(decode_f5_cookie(value), None, "{value}");
        }
    }
}
