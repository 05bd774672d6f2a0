//! Persistence keys: what makes two transactions part of one client session, per application.
//!
//! A transaction's session key is the first kind of its application's priority list that the
//! transaction carries (`--keys` sets one list for every application). The default lists follow
//! what each Exchange application itself relies on:
//!
//! | application | keys, in order |
//! |---|---|
//! | OWA and ECP (one family: they share the logon cookie) | cadata, sessionid, usercontext, cookie, user, source |
//! | ActiveSync | device (user and DeviceId), user, source |
//! | EWS, Outlook Anywhere, MAPI, Autodiscover, OAB, PowerShell, other | cookie, user, source |
//! | TLS without visible HTTP | tls (session lineage), source |
//!
//! Cookie keys use the value the request sent, else the one the response set, so the logon POST
//! whose response sets `cadata` belongs to the session its response created. Key values that
//! are live tokens are kept and reported only as [`TokenDigest`]s (the evidence holds nothing
//! else of them).

use std::collections::HashMap;
use std::str::FromStr;

use crate::evidence::{ExchangeApp, TransactionEvidence, EXCHANGE_COOKIES};
use crate::fingerprint::TokenDigest;
use crate::tls::TlsRecord;

/// The kinds of persistence key, as `--keys` names them.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyKind {
    /// TLS session lineage: a session id or ticket and every connection that resumed it.
    Tls,
    /// OWA's forms-logon cookie `cadata`.
    Cadata,
    /// OWA's `sessionid` cookie.
    SessionId,
    /// OWA's `UserContext` cookie.
    UserContext,
    /// The balancer's persistence cookie, with the client address it came from (the value
    /// names a server, not a client).
    Cookie,
    /// ActiveSync user and DeviceId.
    Device,
    /// The authenticated user: Basic or NTLM user name, else OWA's logon name (`logondata`).
    User,
    /// The client address: the original client of `X-Forwarded-For`, else the connection's.
    Source,
}

impl KeyKind {
    pub const ALL: [KeyKind; 8] = [
        KeyKind::Tls,
        KeyKind::Cadata,
        KeyKind::SessionId,
        KeyKind::UserContext,
        KeyKind::Cookie,
        KeyKind::Device,
        KeyKind::User,
        KeyKind::Source,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            KeyKind::Tls => "tls",
            KeyKind::Cadata => "cadata",
            KeyKind::SessionId => "sessionid",
            KeyKind::UserContext => "usercontext",
            KeyKind::Cookie => "cookie",
            KeyKind::Device => "device",
            KeyKind::User => "user",
            KeyKind::Source => "source",
        }
    }

    /// The Exchange cookie read for this kind, as an index of [`EXCHANGE_COOKIES`].
    fn exchange_cookie(self) -> Option<usize> {
        let name = match self {
            KeyKind::Cadata => "cadata",
            KeyKind::SessionId => "sessionid",
            KeyKind::UserContext => "UserContext",
            _ => return None,
        };
        EXCHANGE_COOKIES.iter().position(|&n| n == name)
    }
}

impl FromStr for KeyKind {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        KeyKind::ALL.into_iter().find(|k| k.as_str().eq_ignore_ascii_case(text.trim())).ok_or_else(|| {
            let names: Vec<&str> = KeyKind::ALL.iter().map(|k| k.as_str()).collect();
            format!("unknown key kind `{text}` (one of {})", names.join(", "))
        })
    }
}

/// Parses `--keys`: kinds separated by commas, each at most once.
pub fn parse_key_list(text: &str) -> Result<Vec<KeyKind>, String> {
    let mut kinds = Vec::new();
    for part in text.split(',').filter(|p| !p.trim().is_empty()) {
        let kind: KeyKind = part.parse()?;
        if kinds.contains(&kind) {
            return Err(format!("key kind `{}` given twice", kind.as_str()));
        }
        kinds.push(kind);
    }
    if kinds.is_empty() {
        return Err("no key kind given".to_owned());
    }
    Ok(kinds)
}

/// Applications as sessions group them: OWA and ECP are one family (Microsoft: they must reach
/// the same CAS, since they share the authentication cookie); TLS connections whose HTTP the
/// capture cannot read are a family of their own.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AppFamily {
    Owa,
    /// OWA and ECP requests without any of OWA's session cookies: the logon form, its
    /// resources, the redirects to it. Nothing there needs affinity.
    OwaLogon,
    Ews,
    ActiveSync,
    OutlookAnywhere,
    Mapi,
    PowerShell,
    Autodiscover,
    Oab,
    Other,
    Tls,
}

/// How much an application needs its client kept on one CAS server, from Microsoft's "Load
/// Balancing Requirements of Exchange Protocols" (Exchange 2010).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AffinityClass {
    /// OWA and ECP, EWS (subscriptions), RPC Client Access (here MAPI): a move breaks the session.
    Required,
    /// Outlook Anywhere, ActiveSync, Remote PowerShell: work without, perform worse.
    Beneficial,
    /// Autodiscover, OAB: stateless.
    NotNeeded,
    /// The application is not visible (TLS without key) or not an Exchange one.
    Unknown,
}

impl AffinityClass {
    pub fn as_str(self) -> &'static str {
        match self {
            AffinityClass::Required => "required",
            AffinityClass::Beneficial => "beneficial",
            AffinityClass::NotNeeded => "not_needed",
            AffinityClass::Unknown => "unknown",
        }
    }
}

impl AppFamily {
    pub const ALL: [AppFamily; 11] = [
        AppFamily::Owa,
        AppFamily::OwaLogon,
        AppFamily::Ews,
        AppFamily::ActiveSync,
        AppFamily::OutlookAnywhere,
        AppFamily::Mapi,
        AppFamily::PowerShell,
        AppFamily::Autodiscover,
        AppFamily::Oab,
        AppFamily::Other,
        AppFamily::Tls,
    ];

    /// The family of a transaction: that of its application, except that OWA and ECP requests
    /// carrying none of OWA's session cookies (cadata, sessionid, UserContext; sent or set) are
    /// logon-page requests. `None` for health probes, which are never sessions.
    pub fn of_transaction(ev: &TransactionEvidence) -> Option<AppFamily> {
        let family = AppFamily::of(ev.app)?;
        let owa_session = [KeyKind::Cadata, KeyKind::SessionId, KeyKind::UserContext]
            .iter()
            .filter_map(|k| k.exchange_cookie())
            .any(|i| ev.exchange_cookie(i).is_some_and(|c| c.token.is_some()));
        Some(if family == AppFamily::Owa && !owa_session { AppFamily::OwaLogon } else { family })
    }

    /// The family of an application; `None` for health probes, which are never sessions.
    pub fn of(app: ExchangeApp) -> Option<AppFamily> {
        Some(match app {
            ExchangeApp::Owa | ExchangeApp::Ecp => AppFamily::Owa,
            ExchangeApp::Ews => AppFamily::Ews,
            ExchangeApp::ActiveSync => AppFamily::ActiveSync,
            ExchangeApp::OutlookAnywhere => AppFamily::OutlookAnywhere,
            ExchangeApp::MapiHttp => AppFamily::Mapi,
            ExchangeApp::PowerShell => AppFamily::PowerShell,
            ExchangeApp::Autodiscover => AppFamily::Autodiscover,
            ExchangeApp::Oab => AppFamily::Oab,
            ExchangeApp::Other => AppFamily::Other,
            ExchangeApp::HealthProbe => return None,
        })
    }

    /// The name in reports and policies (the OWA family is `owa`, ECP included; `owa_logon` are
    /// its requests before the logon cookie exists).
    pub fn as_str(self) -> &'static str {
        match self {
            AppFamily::Owa => "owa",
            AppFamily::OwaLogon => "owa_logon",
            AppFamily::Ews => "ews",
            AppFamily::ActiveSync => "activesync",
            AppFamily::OutlookAnywhere => "outlook_anywhere",
            AppFamily::Mapi => "mapi",
            AppFamily::PowerShell => "powershell",
            AppFamily::Autodiscover => "autodiscover",
            AppFamily::Oab => "oab",
            AppFamily::Other => "other",
            AppFamily::Tls => "tls",
        }
    }

    pub fn affinity(self) -> AffinityClass {
        match self {
            AppFamily::Owa | AppFamily::Ews | AppFamily::Mapi => AffinityClass::Required,
            AppFamily::OutlookAnywhere | AppFamily::ActiveSync | AppFamily::PowerShell => AffinityClass::Beneficial,
            AppFamily::OwaLogon | AppFamily::Autodiscover | AppFamily::Oab => AffinityClass::NotNeeded,
            AppFamily::Other | AppFamily::Tls => AffinityClass::Unknown,
        }
    }

    /// The default key priority of the family.
    pub fn default_keys(self) -> &'static [KeyKind] {
        use KeyKind::*;
        match self {
            AppFamily::Owa | AppFamily::OwaLogon => &[Cadata, SessionId, UserContext, Cookie, User, Source],
            AppFamily::ActiveSync => &[Device, User, Source],
            AppFamily::Tls => &[Tls, Source],
            _ => &[Cookie, User, Source],
        }
    }
}

/// A session key: its kind, its exact value (compared), and the text reports show (digests
/// for tokens, shortened TLS ids).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Key {
    pub kind: KeyKind,
    pub value: String,
}

impl Key {
    fn new(kind: KeyKind, value: String) -> Self {
        Key { kind, value }
    }
}

impl Key {
    /// The value as reports show it: TLS lineages by the first 16 hex digits of their root id
    /// (the rest adds nothing to tell sessions apart); other values are already safe to show.
    pub fn display(&self) -> String {
        match self.kind {
            KeyKind::Tls if self.value.len() > 16 => format!("{}…", self.value.get(..16).unwrap_or(&self.value)),
            _ => self.value.clone(),
        }
    }
}

/// What a transaction offers as keys, beyond its evidence: the client address to use (`None`
/// when the connection comes from a proxy without `X-Forwarded-For`), and the user.
pub struct KeySource<'a> {
    pub evidence: &'a TransactionEvidence,
    pub client: Option<&'a str>,
    pub user: Option<&'a str>,
}

impl KeySource<'_> {
    /// The value of one key kind; `None` when the transaction does not carry it. Tokens are
    /// only ever digests, so that no live token is kept.
    pub fn key(&self, kind: KeyKind) -> Option<Key> {
        let ev = self.evidence;
        let value = match kind {
            KeyKind::Tls => None,
            KeyKind::Cadata | KeyKind::SessionId | KeyKind::UserContext => {
                ev.exchange_cookie(kind.exchange_cookie()?)?.token.map(|token| token.to_string())
            }
            KeyKind::Cookie => {
                let cookie = ev.lb_cookie.as_ref().filter(|c| !c.value.is_empty())?;
                Some(format!("{} {}={}", self.client?, cookie.name, TokenDigest::of(&cookie.value)))
            }
            KeyKind::Device => {
                let device = ev.activesync.device_id.as_deref()?;
                Some(format!("{}/{device}", self.user?))
            }
            KeyKind::User => self.user.map(str::to_owned),
            KeyKind::Source => self.client.map(str::to_owned),
        };
        value.map(|v| Key::new(kind, v))
    }

    /// The first key of `priority` the transaction carries.
    pub fn first(&self, priority: &[KeyKind]) -> Option<Key> {
        priority.iter().find_map(|&kind| self.key(kind))
    }
}

/// TLS session lineages: a session id or ticket, and every connection that offered it again.
///
/// A connection continues a lineage when it offers a session id some earlier connection was
/// given, or a ticket some earlier connection was issued (whether the server accepted the
/// resumption or not: a refused resumption is the interesting case, a client landing on a server
/// that does not hold its session). Otherwise it starts one, named after the id the server gave
/// it (else its ticket, else the unknown id it offered: a session from before the capture). TLS
/// 1.3 session ids are compatibility echoes and its tickets encrypted: such connections have no
/// lineage. Memory: one entry per session id and ticket.
#[derive(Debug, Default)]
pub struct TlsLineages {
    roots: HashMap<String, String>,
}

impl TlsLineages {
    /// The lineage key of a connection, and whether it resumed (`None` for a lineage's first).
    pub fn observe(&mut self, tls: &TlsRecord) -> Option<(Key, Option<bool>)> {
        let ids = |id: &Option<String>| id.clone().filter(|_| !tls.session_id_is_legacy_echo);
        let offered_id = ids(&tls.client_session_id).map(|id| format!("id:{id}"));
        let offered_ticket = tls.ticket_offered_hash.clone().map(|h| format!("ticket:{h}"));
        let known = [&offered_id, &offered_ticket].into_iter().flatten().find_map(|k| self.roots.get(k).cloned());
        let given_id = ids(&tls.server_session_id).map(|id| format!("id:{id}"));
        let given_ticket = tls.new_ticket_hash.clone().map(|h| format!("ticket:{h}"));
        let (root, resumed) = match known {
            Some(root) => (root, Some(tls.resumed)),
            None => (given_id.clone().or_else(|| given_ticket.clone()).or(offered_id).or(offered_ticket)?, None),
        };
        for name in [given_id, given_ticket].into_iter().flatten() {
            self.roots.entry(name).or_insert_with(|| root.clone());
        }
        let value = root.split_once(':').map_or(root.as_str(), |(_, v)| v).to_owned();
        Some((Key::new(KeyKind::Tls, value), resumed))
    }
}

/// The user of a transaction: ActiveSync's `User`, else the Authorization user, else OWA's
/// logon name (from the `logondata` cookie). Written as the bare account, lowercased
/// (`CONTOSO\User1`, `user1@contoso.com` and `User1` are one user: Windows account names are
/// case-insensitive, and clients write the domain in either form or not at all).
pub fn user_of(ev: &TransactionEvidence) -> Option<String> {
    let user = ev.activesync.user.as_deref().or(ev.username.as_deref()).or(ev.logon_name.as_deref())?;
    let account = user.rsplit('\\').next().unwrap_or(user);
    let account = account.split('@').next().unwrap_or(account).trim().to_lowercase();
    (!account.is_empty()).then_some(account)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::{ActiveSyncParams, CookieName, CookieSource, LbCookie, LbCookieKind, TrackedCookie};

    fn evidence() -> TransactionEvidence {
        TransactionEvidence {
            app: ExchangeApp::Owa,
            forwarded_for: None,
            auth_scheme: None,
            username: None,
            activesync: ActiveSyncParams::default(),
            cookies_sent: Vec::new(),
            cookies_set: Vec::new(),
            logon_name: None,
            lb_cookie: None,
            lb_cookie_set: None,
            server_hint: None,
            fe_server: None,
            be_server: None,
            diag_info: None,
            anomalies: Vec::new(),
        }
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<TrackedCookie> {
        list.iter().map(|&(n, v)| TrackedCookie::new(CookieName::of(n), v)).collect()
    }

    fn digest(value: &str) -> String {
        TokenDigest::of(value).to_string()
    }

    #[test]
    fn key_list() {
        assert_eq!(parse_key_list("tls, cookie,SOURCE").unwrap(), vec![KeyKind::Tls, KeyKind::Cookie, KeyKind::Source]);
        assert!(parse_key_list("tls,tls").unwrap_err().contains("twice"));
        assert!(parse_key_list("ssl").unwrap_err().starts_with("unknown key kind `ssl`"));
        assert!(parse_key_list(" , ").is_err());
    }

    #[test]
    fn owa_priority_and_logon_linking() {
        // The logon POST: no cadata sent, the response sets it: the key is the new cadata.
        let mut ev = evidence();
        ev.cookies_sent = pairs(&[("cookieTest", "1")]);
        ev.cookies_set = pairs(&[("cadata", "\"TOKEN\""), ("sessionid", "abc"), ("logondata", "acc=0&lgn=CONTOSO%5CUser4")]);
        ev.logon_name = Some("CONTOSO\\User4".into());
        let source = KeySource { evidence: &ev, client: Some("10.0.0.9"), user: None };
        let key = source.first(AppFamily::Owa.default_keys()).unwrap();
        assert_eq!(key, Key::new(KeyKind::Cadata, digest("TOKEN")));
        // A later request sends the same cookie: same key.
        let mut later = evidence();
        later.cookies_sent = pairs(&[("cadata", "TOKEN"), ("sessionid", "abc")]);
        assert_eq!(KeySource { evidence: &later, client: Some("10.0.0.9"), user: None }.first(AppFamily::Owa.default_keys()), Some(key));
        assert_eq!(user_of(&ev).as_deref(), Some("user4"));
        let mut upn = evidence();
        upn.username = Some("User4@Contoso.com".into());
        assert_eq!(user_of(&upn).as_deref(), Some("user4"));
        // Without any Exchange cookie: the balancer cookie with the client address, then the
        // user, then the address.
        let mut pre = evidence();
        pre.lb_cookie = Some(LbCookie {
            kind: LbCookieKind::HaProxy,
            name: "SERVERID".into(),
            value: "CAS01".into(),
            decoded_server: None,
            source: CookieSource::Set,
        });
        let source = KeySource { evidence: &pre, client: Some("10.0.0.9"), user: Some("bob") };
        assert_eq!(source.first(AppFamily::Owa.default_keys()).unwrap().value, format!("10.0.0.9 SERVERID={}", digest("CAS01")));
        let source = KeySource { evidence: &evidence(), client: Some("10.0.0.9"), user: Some("bob") };
        assert_eq!(source.first(AppFamily::Owa.default_keys()), Some(Key::new(KeyKind::User, "bob".into())));
        let source = KeySource { evidence: &evidence(), client: Some("10.0.0.9"), user: None };
        assert_eq!(source.first(AppFamily::Owa.default_keys()), Some(Key::new(KeyKind::Source, "10.0.0.9".into())));
        let source = KeySource { evidence: &evidence(), client: None, user: None };
        assert_eq!(source.first(AppFamily::Owa.default_keys()), None);
        // An empty cadata (a deletion) is no key.
        let mut deleted = evidence();
        deleted.cookies_set = pairs(&[("cadata", "")]);
        let source = KeySource { evidence: &deleted, client: Some("10.0.0.9"), user: None };
        assert_eq!(source.first(&[KeyKind::Cadata]), None);
    }

    #[test]
    fn activesync_device_key() {
        let mut ev = evidence();
        ev.app = ExchangeApp::ActiveSync;
        ev.activesync.user = Some("User1".into());
        ev.activesync.device_id = Some("Appl3CA6".into());
        let user = user_of(&ev);
        assert_eq!(user.as_deref(), Some("user1"));
        let source = KeySource { evidence: &ev, client: Some("10.0.3.10"), user: user.as_deref() };
        assert_eq!(source.first(AppFamily::ActiveSync.default_keys()), Some(Key::new(KeyKind::Device, "user1/Appl3CA6".into())));
        // A user-set priority applies as given.
        assert_eq!(source.first(&[KeyKind::Tls, KeyKind::Source]), Some(Key::new(KeyKind::Source, "10.0.3.10".into())));
    }

    #[test]
    fn families_and_classes() {
        let mut ev = evidence();
        assert_eq!(AppFamily::of_transaction(&ev), Some(AppFamily::OwaLogon));
        ev.cookies_set = pairs(&[("UserContext", "u")]);
        assert_eq!(AppFamily::of_transaction(&ev), Some(AppFamily::Owa));
        ev.cookies_set = pairs(&[("cadata", "\"\"")]);
        assert_eq!(AppFamily::of_transaction(&ev), Some(AppFamily::OwaLogon));
        ev.app = ExchangeApp::Ecp;
        ev.cookies_sent = pairs(&[("cadata", "x")]);
        assert_eq!(AppFamily::of_transaction(&ev), Some(AppFamily::Owa));
        ev.app = ExchangeApp::Ews;
        ev.cookies_sent.clear();
        assert_eq!(AppFamily::of_transaction(&ev), Some(AppFamily::Ews));
        ev.app = ExchangeApp::HealthProbe;
        assert_eq!(AppFamily::of_transaction(&ev), None);
        assert_eq!(AppFamily::OwaLogon.affinity(), AffinityClass::NotNeeded);
        assert_eq!(AppFamily::of(ExchangeApp::Ecp), Some(AppFamily::Owa));
        assert_eq!(AppFamily::of(ExchangeApp::HealthProbe), None);
        assert_eq!(AppFamily::Owa.affinity(), AffinityClass::Required);
        assert_eq!(AppFamily::Ews.affinity(), AffinityClass::Required);
        assert_eq!(AppFamily::OutlookAnywhere.affinity(), AffinityClass::Beneficial);
        assert_eq!(AppFamily::ActiveSync.affinity(), AffinityClass::Beneficial);
        assert_eq!(AppFamily::Oab.affinity(), AffinityClass::NotNeeded);
        assert_eq!(AppFamily::Tls.affinity(), AffinityClass::Unknown);
    }

    fn tls(offered: Option<&str>, given: Option<&str>, resumed: bool) -> TlsRecord {
        TlsRecord {
            client_session_id: offered.map(str::to_owned),
            server_session_id: given.map(str::to_owned),
            resumed,
            ..TlsRecord::default()
        }
    }

    #[test]
    fn tls_lineages() {
        let mut lineages = TlsLineages::default();
        let first = lineages.observe(&tls(None, Some("AA"), false)).unwrap();
        assert_eq!(first, (Key::new(KeyKind::Tls, "AA".into()), None));
        // Resumed, then refused (the server gave a new id, which joins the lineage).
        assert_eq!(lineages.observe(&tls(Some("AA"), Some("AA"), true)).unwrap().1, Some(true));
        assert_eq!(lineages.observe(&tls(Some("AA"), Some("BB"), false)).unwrap(), (Key::new(KeyKind::Tls, "AA".into()), Some(false)));
        assert_eq!(lineages.observe(&tls(Some("BB"), Some("BB"), true)).unwrap().0.value, "AA");
        // An id from before the capture names its own lineage.
        assert_eq!(lineages.observe(&tls(Some("CC"), Some("CC"), true)).unwrap(), (Key::new(KeyKind::Tls, "CC".into()), None));
        // Tickets link as ids do.
        let issued = TlsRecord { new_ticket_hash: Some("T1".into()), ..TlsRecord::default() };
        assert_eq!(lineages.observe(&issued).unwrap().0.value, "T1");
        let offered = TlsRecord { ticket_offered_hash: Some("T1".into()), resumed: true, ..TlsRecord::default() };
        assert_eq!(lineages.observe(&offered).unwrap(), (Key::new(KeyKind::Tls, "T1".into()), Some(true)));
        // TLS 1.3: ids are echoes.
        let echo = TlsRecord { session_id_is_legacy_echo: true, ..tls(Some("DD"), Some("DD"), false) };
        assert_eq!(lineages.observe(&echo), None);
        let long = Key::new(KeyKind::Tls, "0123456789ABCDEF0123".into());
        assert_eq!(long.display(), "0123456789ABCDEF…");
    }
}
