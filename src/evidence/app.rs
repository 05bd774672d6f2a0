//! Which Exchange application a request is for, and whether it is a health probe.
//!
//! The application is the first path segment, case-insensitively (`/OWA/` is OWA), except that
//! Outlook Anywhere is also recognised by its `RPC_IN_DATA` / `RPC_OUT_DATA` methods. A health
//! probe is, before any application:
//! - a path whose last segment is `healthcheck.htm` (Exchange's Managed Availability pages,
//!   `/owa/healthcheck.htm` and the like, and `/healthcheck.htm`), or exactly `/is_alive.html`
//!   or `/healthcheck`;
//! - a path starting with one of the configured health paths;
//! - a request whose User-Agent contains a known monitor's name (AWS's `ELB-HealthChecker`,
//!   Google Cloud's `GoogleHC`) or a configured one;
//! - `OPTIONS /` without a User-Agent: HAProxy's default `option httpchk`.

use super::ExchangeApp;
use crate::http::RequestHead;

/// Health-check paths that are whole paths, not per-application pages.
const HEALTH_PATHS: [&str; 2] = ["/is_alive.html", "/healthcheck"];
/// Managed Availability's probe page, under every application's virtual directory.
const HEALTH_PAGE: &str = "healthcheck.htm";
/// User-Agent substrings of load-balancer monitors, lowercase.
const MONITOR_AGENTS: [&str; 2] = ["elb-healthchecker", "googlehc"];

/// Virtual directories of the Exchange applications, lowercase.
const APP_ROOTS: [(&str, ExchangeApp); 9] = [
    ("owa", ExchangeApp::Owa),
    ("ecp", ExchangeApp::Ecp),
    ("ews", ExchangeApp::Ews),
    ("microsoft-server-activesync", ExchangeApp::ActiveSync),
    ("rpc", ExchangeApp::OutlookAnywhere),
    ("mapi", ExchangeApp::MapiHttp),
    ("autodiscover", ExchangeApp::Autodiscover),
    ("oab", ExchangeApp::Oab),
    ("powershell", ExchangeApp::PowerShell),
];

/// Classifies requests; holds the configured health paths and monitor names.
#[derive(Clone, Debug)]
pub(super) struct AppClassifier {
    health_prefixes: Vec<String>,
    /// Lowercase, built-in ones first.
    monitor_agents: Vec<String>,
}

impl AppClassifier {
    pub fn new(health_paths: &[String], monitor_user_agents: &[String]) -> Self {
        let monitor_agents = MONITOR_AGENTS
            .iter()
            .map(|a| a.to_string())
            .chain(monitor_user_agents.iter().map(|a| a.to_ascii_lowercase()));
        AppClassifier {
            health_prefixes: health_paths.iter().filter(|p| !p.is_empty()).cloned().collect(),
            monitor_agents: monitor_agents.filter(|a| !a.is_empty()).collect(),
        }
    }

    /// The application of `request`, whose path (from [`split_target`]) is `path`.
    pub fn classify(&self, request: &RequestHead, path: &str) -> ExchangeApp {
        if self.is_health_probe(request, path) {
            ExchangeApp::HealthProbe
        } else if matches!(request.method.as_str(), "RPC_IN_DATA" | "RPC_OUT_DATA") {
            ExchangeApp::OutlookAnywhere
        } else {
            app_from_path(path)
        }
    }

    fn is_health_probe(&self, request: &RequestHead, path: &str) -> bool {
        let last_segment = path.rsplit('/').next().unwrap_or(path);
        let user_agent = request.headers.get("User-Agent");
        last_segment.eq_ignore_ascii_case(HEALTH_PAGE)
            || HEALTH_PATHS.iter().any(|p| path.eq_ignore_ascii_case(p))
            || self.health_prefixes.iter().any(|p| starts_with_ignore_ascii_case(path, p))
            || user_agent.is_some_and(|ua| self.monitor_agents.iter().any(|a| contains_ignore_ascii_case(ua, a)))
            || (request.method == "OPTIONS" && path == "/" && user_agent.is_none())
    }
}

fn app_from_path(path: &str) -> ExchangeApp {
    let first_segment = path.trim_start_matches('/').split('/').next().unwrap_or_default();
    APP_ROOTS
        .iter()
        .find(|(root, _)| first_segment.eq_ignore_ascii_case(root))
        .map_or(ExchangeApp::Other, |&(_, app)| app)
}

/// Path and query of a request target: origin form (`/owa/?ae=Item`) or absolute form
/// (`https://mail.contoso.com/owa/`, sent to proxies); the fragment is dropped. Any other form
/// (`*`, an authority, garbage) is returned whole as the path.
pub(super) fn split_target(target: &str) -> (&str, &str) {
    let target = target.split_once('#').map_or(target, |(before, _)| before);
    match after_scheme_and_authority(target) {
        Some(rest) => match split_query(rest) {
            ("", query) => ("/", query),
            path_and_query => path_and_query,
        },
        None => split_query(target),
    }
}

fn split_query(target: &str) -> (&str, &str) {
    target.split_once('?').unwrap_or((target, ""))
}

/// What follows `scheme://authority` in an absolute-form target: `/path?query`, `?query` or
/// nothing; `None` when the target is not in absolute form.
fn after_scheme_and_authority(target: &str) -> Option<&str> {
    if target.starts_with('/') {
        return None;
    }
    let (scheme, rest) = target.split_once("://")?;
    let is_scheme = !scheme.is_empty() && scheme.bytes().all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b));
    let authority_len = rest.find(['/', '?']).unwrap_or(rest.len());
    is_scheme.then(|| rest.get(authority_len..)).flatten()
}

fn starts_with_ignore_ascii_case(text: &str, prefix: &str) -> bool {
    text.as_bytes().get(..prefix.len()).is_some_and(|head| head.eq_ignore_ascii_case(prefix.as_bytes()))
}

/// `needle` must be lowercase. Candidates are found by their first byte (memchr), so a
/// User-Agent is not compared window by window with every monitor's name (that was 4 % of a
/// run's instructions on the lab mix).
fn contains_ignore_ascii_case(haystack: &str, needle: &str) -> bool {
    let (haystack, needle) = (haystack.as_bytes(), needle.as_bytes());
    let Some((&first, rest)) = needle.split_first() else { return true };
    memchr::memchr2_iter(first, first.to_ascii_uppercase(), haystack)
        .any(|at| haystack.get(at + 1..at + needle.len()).is_some_and(|tail| tail.eq_ignore_ascii_case(rest)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::Headers;
    use crate::timestamp::Timestamp;

    fn request(method: &str, uri: &str, user_agent: Option<&str>) -> RequestHead {
        RequestHead {
            ts: Timestamp::default(),
            method: method.to_owned(),
            uri: uri.to_owned(),
            version: "1.1".into(),
            headers: user_agent.map(|ua| ("User-Agent", ua)).into_iter().collect::<Headers>(),
        }
    }

    fn classify(classifier: &AppClassifier, method: &str, uri: &str, user_agent: Option<&str>) -> ExchangeApp {
        let request = request(method, uri, user_agent);
        classifier.classify(&request, split_target(&request.uri).0)
    }

    #[test]
    fn applications_from_the_first_segment() {
        let classifier = AppClassifier::new(&[], &[]);
        let browser = Some("Mozilla/5.0");
        let cases = [
            ("GET", "/owa/", ExchangeApp::Owa),
            ("GET", "/OWA/auth/logon.aspx?replaceCurrent=1", ExchangeApp::Owa),
            ("POST", "/owa/service.svc?action=GetFolder", ExchangeApp::Owa),
            ("GET", "/owa", ExchangeApp::Owa),
            ("GET", "/ecp/default.aspx", ExchangeApp::Ecp),
            ("POST", "/EWS/Exchange.asmx", ExchangeApp::Ews),
            ("POST", "/Microsoft-Server-ActiveSync?Cmd=Sync", ExchangeApp::ActiveSync),
            ("OPTIONS", "/microsoft-server-activesync", ExchangeApp::ActiveSync),
            ("RPC_IN_DATA", "/rpc/rpcproxy.dll?mbx01.contoso.com:6001", ExchangeApp::OutlookAnywhere),
            ("GET", "/rpc/rpcproxy.dll", ExchangeApp::OutlookAnywhere),
            ("RPC_OUT_DATA", "/somewhere/else", ExchangeApp::OutlookAnywhere),
            ("POST", "/mapi/emsmdb/?MailboxId=x@contoso.com", ExchangeApp::MapiHttp),
            ("POST", "/Autodiscover/Autodiscover.xml", ExchangeApp::Autodiscover),
            ("GET", "/OAB/0f2c/oab.xml", ExchangeApp::Oab),
            ("POST", "/powershell?serializationLevel=Full", ExchangeApp::PowerShell),
            ("GET", "https://mail.contoso.com/owa/?ae=Item", ExchangeApp::Owa),
            ("GET", "HTTP://mail.contoso.com:443/ecp", ExchangeApp::Ecp),
            ("GET", "/", ExchangeApp::Other),
            ("GET", "/owa2/", ExchangeApp::Other),
            ("GET", "/favicon.ico", ExchangeApp::Other),
            ("GET", "/x/owa/", ExchangeApp::Other),
            ("GET", "/?owa", ExchangeApp::Other),
            ("CONNECT", "mail.contoso.com:443", ExchangeApp::Other),
            ("GET", "", ExchangeApp::Other),
            ("GET", "*", ExchangeApp::Other),
            ("rpc_in_data", "/", ExchangeApp::Other),
        ];
        for (method, uri, app) in cases {
            assert_eq!(classify(&classifier, method, uri, browser), app, "{method} {uri}");
        }
    }

    #[test]
    fn monitor_names_are_found_anywhere_in_any_case() {
        let found = [
            ("ELB-HealthChecker/2.0", "elb-healthchecker"),
            ("Mozilla GoogleHC/1.0", "googlehc"),
            ("x googlehc", "googlehc"),
            ("gggooGLEHC", "googlehc"),
            ("probe/-1-", "/-1-"),
            ("anything", ""),
        ];
        for (user_agent, name) in found {
            assert!(contains_ignore_ascii_case(user_agent, name), "{name} in {user_agent}");
        }
        let missing = [("Mozilla/5.0", "googlehc"), ("googleh", "googlehc"), ("goo glehc", "googlehc"), ("", "g")];
        for (user_agent, name) in missing {
            assert!(!contains_ignore_ascii_case(user_agent, name), "{name} in {user_agent}");
        }
    }

    #[test]
    fn health_probes() {
        let classifier = AppClassifier::new(&["/lb-check".to_owned(), String::new()], &["F5-Monitor".to_owned()]);
        let cases = [
            ("GET", "/owa/healthcheck.htm", Some("curl/8.0")),
            ("GET", "/OWA/HealthCheck.htm", Some("curl/8.0")),
            ("GET", "/Microsoft-Server-ActiveSync/healthcheck.htm", Some("x")),
            ("GET", "/ecp/healthcheck.htm?x=1", Some("x")),
            ("GET", "/healthcheck.htm", Some("x")),
            ("GET", "/is_alive.html", Some("x")),
            ("GET", "/HEALTHCHECK", Some("x")),
            ("GET", "/LB-Check/owa", Some("x")),
            ("GET", "/owa/", Some("ELB-HealthChecker/2.0")),
            ("GET", "/", Some("GoogleHC/1.0")),
            ("GET", "/ews/exchange.asmx", Some("BIG-IP f5-monitor v1")),
            ("OPTIONS", "/", None),
        ];
        for (method, uri, user_agent) in cases {
            assert_eq!(
                classify(&classifier, method, uri, user_agent),
                ExchangeApp::HealthProbe,
                "{method} {uri} {user_agent:?}"
            );
        }
        let not_probes = [
            ("GET", "/healthcheck/more", Some("x"), ExchangeApp::Other),
            ("GET", "/owa/healthcheck.html", Some("x"), ExchangeApp::Owa),
            ("GET", "/lb", Some("x"), ExchangeApp::Other),
            ("OPTIONS", "/", Some("Microsoft Office/16.0"), ExchangeApp::Other),
            ("GET", "/", None, ExchangeApp::Other),
            ("OPTIONS", "/Microsoft-Server-ActiveSync", None, ExchangeApp::ActiveSync),
        ];
        for (method, uri, user_agent, app) in not_probes {
            assert_eq!(classify(&classifier, method, uri, user_agent), app, "{method} {uri} {user_agent:?}");
        }
    }

    #[test]
    fn targets_split_into_path_and_query() {
        let cases = [
            ("/owa/?ae=Item&t=IPM.Note", ("/owa/", "ae=Item&t=IPM.Note")),
            ("/owa/#path=/mail", ("/owa/", "")),
            ("/a?b?c", ("/a", "b?c")),
            ("https://mail.contoso.com/owa/x?y", ("/owa/x", "y")),
            ("http://mail.contoso.com", ("/", "")),
            ("http://mail.contoso.com?q", ("/", "q")),
            ("http://mail.contoso.com#f", ("/", "")),
            ("mail.contoso.com:443", ("mail.contoso.com:443", "")),
            ("bad scheme://x/y", ("bad scheme://x/y", "")),
            ("", ("", "")),
        ];
        for (target, expected) in cases {
            assert_eq!(split_target(target), expected, "{target}");
        }
    }
}
