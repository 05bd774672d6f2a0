//! Which servers answered, as Exchange's response headers name them.
//!
//! - `X-FEServer`: the front-end (Client Access) server the balancer picked, NetBIOS name.
//! - `X-CalculatedBETarget`: the back-end (mailbox) server the front end proxied to, FQDN;
//!   else `X-BEServer`, the same server's NetBIOS name.
//! - `X-DiagInfo`: the server that produced the response.
//!
//! The balancer's own placement, a persistence cookie in `Set-Cookie`, is read with the other
//! cookies (`TransactionEvidence::lb_cookie_set`).

use crate::http::Headers;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct ServerHints {
    pub fe_server: Option<String>,
    pub be_server: Option<String>,
    pub diag_info: Option<String>,
}

impl ServerHints {
    pub fn from_headers(headers: &Headers) -> Self {
        ServerHints {
            fe_server: header_value(headers, "X-FEServer"),
            be_server: header_value(headers, "X-CalculatedBETarget").or_else(|| header_value(headers, "X-BEServer")),
            diag_info: header_value(headers, "X-DiagInfo"),
        }
    }

    /// The most specific server name: the back end, else the X-DiagInfo server, else the
    /// front end.
    pub fn most_specific(&self) -> Option<&str> {
        self.be_server.as_deref().or(self.diag_info.as_deref()).or(self.fe_server.as_deref())
    }
}

/// A header's first value, trimmed; `None` when absent or blank.
fn header_value(headers: &Headers, name: &str) -> Option<String> {
    let value = headers.get(name)?.trim();
    (!value.is_empty()).then(|| value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hints(headers: &[(&str, &str)]) -> ServerHints {
        ServerHints::from_headers(&headers.iter().copied().collect())
    }

    fn owned(text: &str) -> Option<String> {
        Some(text.to_owned())
    }

    #[test]
    fn all_headers() {
        let h = hints(&[
            ("X-FEServer", "CAS01"),
            ("X-BEServer", "MBX02"),
            ("X-CalculatedBETarget", " mbx02.contoso.com "),
            ("X-DiagInfo", "MBX02"),
        ]);
        assert_eq!(
            h,
            ServerHints { fe_server: owned("CAS01"), be_server: owned("mbx02.contoso.com"), diag_info: owned("MBX02") }
        );
        assert_eq!(h.most_specific(), Some("mbx02.contoso.com"));
    }

    #[test]
    fn fallbacks() {
        let h = hints(&[("x-beserver", "MBX02"), ("x-feserver", "CAS01")]);
        assert_eq!(h.be_server.as_deref(), Some("MBX02"));
        assert_eq!(h.most_specific(), Some("MBX02"));
        let h = hints(&[("X-CalculatedBETarget", "  "), ("X-BEServer", "MBX03"), ("X-DiagInfo", "MBX03")]);
        assert_eq!(h.be_server.as_deref(), Some("MBX03"));
        assert_eq!(hints(&[("X-DiagInfo", "EXCH01"), ("X-FEServer", "CAS01")]).most_specific(), Some("EXCH01"));
        assert_eq!(hints(&[("X-FEServer", "CAS01")]).most_specific(), Some("CAS01"));
        assert_eq!(hints(&[("X-FEServer", "")]), ServerHints::default());
        assert_eq!(hints(&[]).most_specific(), None);
    }
}
