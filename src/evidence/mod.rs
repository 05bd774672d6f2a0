//! Stage 5: persistence evidence from an HTTP transaction.
//!
//! Input: a [`Transaction`]. Output: [`TransactionEvidence`], every key
//! a load balancer could use to keep the client on one CAS server, plus the Exchange application
//! and the server-identity hints of the response. Credentials never leave this module: Basic
//! passwords, NTLM responses and form logons are parsed only far enough to read the user name.
//!
//! Contract:
//! - [`EvidenceExtractor::extract`] never panics, whatever the headers hold; what it cannot take
//!   at face value becomes an [`Anomaly`] in [`TransactionEvidence::anomalies`], stamped with the
//!   request's time.
//! - Work and memory are bounded by the transaction's header block (itself bounded by the HTTP
//!   stage); nothing is kept between transactions.
//! - No field of [`TransactionEvidence`] (nor its `Debug` output) holds a password or an NTLM or
//!   Kerberos response, nor a tracked cookie's value: cookies travel on as digests
//!   (balancer cookies, which name servers, excepted).
//!
//! One submodule per concern: `cookies` (Cookie / Set-Cookie, Exchange and balancer cookies,
//! F5 decoding), `auth` (Authorization), `activesync` (query parameters), `app` (application
//! and health probes), `forwarded` (original client address), `server_hints` (server names in
//! response headers).

mod activesync;
mod app;
mod auth;
mod cookies;
mod forwarded;
mod server_hints;
#[cfg(test)]
mod tests;

use base64::Engine as _;

use crate::anomaly::Anomaly;
use crate::http::Transaction;
use crate::timestamp::Timestamp;

pub use activesync::ActiveSyncParams;
pub use cookies::{decode_f5_cookie, CookieName, CookieSource, LbCookie, LbCookieKind, TrackedCookie};

use app::AppClassifier;
use cookies::CookieClassifier;
use server_hints::ServerHints;

/// The 15 Exchange 2010 cookies, in the order of Microsoft's list; report columns follow it.
pub const EXCHANGE_COOKIES: [&str; 15] = [
    "UserContext",
    "sessionid",
    "cadata",
    "PBack",
    "OutlookSession",
    "logondata",
    "cookieTest",
    "owacsdc",
    "ASP.NET_SessionId",
    "msExchEcpCanary",
    "ecpCookieTest",
    "tzid",
    "EcpUpdatedUserSettings",
    "MstrPgLd1",
    "MstrPgLd2",
];

/// Exchange application, from the request path.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ExchangeApp {
    Owa,
    Ecp,
    Ews,
    ActiveSync,
    OutlookAnywhere,
    MapiHttp,
    Autodiscover,
    Oab,
    PowerShell,
    HealthProbe,
    Other,
}

impl ExchangeApp {
    pub fn as_str(self) -> &'static str {
        match self {
            ExchangeApp::Owa => "owa",
            ExchangeApp::Ecp => "ecp",
            ExchangeApp::Ews => "ews",
            ExchangeApp::ActiveSync => "activesync",
            ExchangeApp::OutlookAnywhere => "outlook_anywhere",
            ExchangeApp::MapiHttp => "mapi",
            ExchangeApp::Autodiscover => "autodiscover",
            ExchangeApp::Oab => "oab",
            ExchangeApp::PowerShell => "powershell",
            ExchangeApp::HealthProbe => "health_probe",
            ExchangeApp::Other => "other",
        }
    }
}

/// What the user tells the extractor beyond the built-in names.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EvidenceConfig {
    /// Extra cookie names to record (an application's session cookie), matched exactly.
    pub extra_cookies: Vec<String>,
    /// Balancer persistence cookie names beyond the built-in ones (HAProxy's default `SERVERID`,
    /// `BIGipServer*`, `NSC_*`, `AWSALB*`, `AWSELB`), matched exactly: the `cookie <name>` of an
    /// HAProxy backend, a Kemp or nginx sticky cookie. Recorded and reported as [`LbCookieKind::Extra`].
    pub lb_cookies: Vec<String>,
    /// Extra health-probe paths (matched case-insensitively as path prefixes).
    pub health_paths: Vec<String>,
    /// Extra User-Agent substrings (matched case-insensitively) of monitors whose every request
    /// is a health probe.
    pub monitor_user_agents: Vec<String>,
}

/// Everything one transaction tells about persistence. Built by [`EvidenceExtractor::extract`].
#[derive(Clone, Debug, PartialEq)]
pub struct TransactionEvidence {
    pub app: ExchangeApp,
    /// Original client address: the first valid address of `X-Forwarded-For`, else
    /// `X-Real-IP`, else the first `for=` of `Forwarded` (IP addresses in canonical form, port,
    /// brackets and quotes stripped; obfuscated identifiers such as `_hidden` kept as given).
    pub forwarded_for: Option<String>,
    /// Authorization scheme, lowercased: `basic`, `ntlm`, `negotiate`, `kerberos`, `bearer`, …
    /// A Negotiate token that carries NTLM is `ntlm`, one that names Kerberos is `kerberos`.
    pub auth_scheme: Option<String>,
    /// Basic: the user part of the credentials (`DOMAIN\user` kept whole); NTLM: the
    /// `DOMAIN\user` of the AUTHENTICATE message. Never a password.
    pub username: Option<String>,
    /// ActiveSync query parameters (plain or base64 form); all `None` for other applications.
    pub activesync: ActiveSyncParams,
    /// Tracked cookies (Exchange's 15, balancers', extra) the request carried, in request order.
    pub cookies_sent: Vec<TrackedCookie>,
    /// Tracked cookies the response set, in response order (a deletion has its empty value).
    pub cookies_set: Vec<TrackedCookie>,
    /// OWA's logon name: the `lgn` field of the `logondata` cookie sent, else set,
    /// percent-decoded (`CONTOSO\user`).
    pub logon_name: Option<String>,
    /// The first balancer persistence cookie the request carried, else the first one the
    /// response set; [`LbCookie::source`] tells which.
    pub lb_cookie: Option<LbCookie>,
    /// The first balancer persistence cookie the response set: where the balancer (re)placed
    /// the client. Differs from `lb_cookie` when the balancer replaced the cookie it was sent.
    pub lb_cookie_set: Option<LbCookie>,
    /// The most specific server name of the response headers: `be_server`, else `diag_info`,
    /// else `fe_server`.
    pub server_hint: Option<String>,
    /// Front-end (CAS) server: `X-FEServer`.
    pub fe_server: Option<String>,
    /// Back-end (mailbox) server: `X-CalculatedBETarget`, else `X-BEServer`.
    pub be_server: Option<String>,
    /// The server `X-DiagInfo` names.
    pub diag_info: Option<String>,
    /// What could not be taken at face value (bad base64, malformed NTLM, garbage addresses).
    pub anomalies: Vec<Anomaly>,
}

impl TransactionEvidence {
    /// The Exchange cookie `EXCHANGE_COOKIES[index]`: the first the request sent, else the first
    /// the response set; `None` when neither did or `index` is out of range.
    pub fn exchange_cookie(&self, index: usize) -> Option<&TrackedCookie> {
        let is_it = |c: &&TrackedCookie| c.name == CookieName::Exchange(index);
        self.cookies_sent.iter().find(is_it).or_else(|| self.cookies_set.iter().find(is_it))
    }

    /// [`TransactionEvidence::exchange_cookie`] of every index, in one pass over the cookies.
    pub fn exchange_cookies(&self) -> [Option<&TrackedCookie>; EXCHANGE_COOKIES.len()] {
        let mut found = [None; EXCHANGE_COOKIES.len()];
        for cookie in self.cookies_sent.iter().chain(&self.cookies_set) {
            if let CookieName::Exchange(index) = cookie.name {
                if let Some(slot @ None) = found.get_mut(index) {
                    *slot = Some(cookie);
                }
            }
        }
        found
    }
}

/// Reads persistence evidence out of transactions; built once from the configuration.
#[derive(Clone, Debug)]
pub struct EvidenceExtractor {
    cookies: CookieClassifier,
    apps: AppClassifier,
}

impl EvidenceExtractor {
    pub fn new(config: &EvidenceConfig) -> Self {
        EvidenceExtractor {
            cookies: CookieClassifier::new(&config.extra_cookies, &config.lb_cookies),
            apps: AppClassifier::new(&config.health_paths, &config.monitor_user_agents),
        }
    }

    pub fn extract(&self, tx: &Transaction) -> TransactionEvidence {
        let request = &tx.request;
        let mut anomalies = Anomalies::new(request.ts);
        let (path, query) = app::split_target(&request.uri);
        let app = self.apps.classify(request, path);
        let forwarded_for = forwarded::original_client(&request.headers, &mut anomalies);

        let credentials =
            request.headers.get("Authorization").and_then(|h| auth::parse_authorization(h, &mut anomalies));
        let (auth_scheme, username) = credentials.map_or((None, None), |c| (Some(c.scheme), c.username));
        let activesync = if app == ExchangeApp::ActiveSync {
            activesync::parse_query(query, &mut anomalies)
        } else {
            ActiveSyncParams::default()
        };

        let sent = self
            .cookies
            .collect(request.headers.get_all("Cookie").flat_map(cookies::request_cookies), CookieSource::Sent);
        let response_headers = tx.response.as_ref().map(|r| &r.headers);
        let set = self.cookies.collect(
            response_headers.into_iter().flat_map(|h| h.get_all("Set-Cookie")).filter_map(cookies::set_cookie_pair),
            CookieSource::Set,
        );
        let hints = response_headers.map(ServerHints::from_headers).unwrap_or_default();

        TransactionEvidence {
            app,
            forwarded_for,
            auth_scheme,
            username,
            activesync,
            lb_cookie: sent.balancer.or_else(|| set.balancer.clone()),
            lb_cookie_set: set.balancer,
            cookies_sent: sent.cookies,
            cookies_set: set.cookies,
            logon_name: sent.logondata.or(set.logondata).flatten(),
            server_hint: hints.most_specific().map(str::to_owned),
            fe_server: hints.fe_server,
            be_server: hints.be_server,
            diag_info: hints.diag_info,
            anomalies: anomalies.list,
        }
    }
}

/// Where the submodules report malformed input; every anomaly carries the request's time.
struct Anomalies {
    ts: Timestamp,
    list: Vec<Anomaly>,
}

impl Anomalies {
    fn new(ts: Timestamp) -> Self {
        Anomalies { ts, list: Vec::new() }
    }

    fn report(&mut self, kind: &'static str, detail: impl Into<String>) {
        self.list.push(Anomaly::new(self.ts, kind, detail));
    }
}

/// Longest excerpt of an offending token quoted in an anomaly.
const EXCERPT_CHARS: usize = 64;

/// The start of `token`, short enough for an anomaly's detail. Only for tokens that are not
/// credentials.
fn excerpt(token: &str) -> String {
    token.chars().take(EXCERPT_CHARS).collect()
}

/// Base64 as clients write it in headers and URLs: standard alphabet, padding optional.
fn decode_base64(text: impl AsRef<[u8]>) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD_PAD_INDIFFERENT.decode(text).ok()
}

/// Text from a protocol field whose charset is not stated: UTF-8 when it is valid, else
/// Latin-1 (every byte one char), so that no input is rejected and ASCII reads the same.
fn decode_text(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) => text.to_owned(),
        Err(_) => bytes.iter().map(|&b| char::from(b)).collect(),
    }
}

/// `Some(text)` unless it is empty.
fn non_empty(text: String) -> Option<String> {
    (!text.is_empty()).then_some(text)
}
