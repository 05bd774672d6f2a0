//! Stage 5: persistence evidence from an HTTP transaction.
//!
//! Input: a [`Transaction`](crate::http::Transaction). Output: [`TransactionEvidence`], every key
//! a load balancer could use to keep the client on one CAS server, plus the Exchange application
//! and the server-identity hints of the response. Credentials never leave this module: Basic
//! passwords, NTLM responses and form logons are parsed only far enough to read the user name.

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
    /// Extra cookie names to record (a balancer's configurable cookie, an application cookie).
    pub extra_cookies: Vec<String>,
    /// Extra health-probe paths (matched case-insensitively as path prefixes).
    pub health_paths: Vec<String>,
}
