//! Which Exchange 2010 virtual directory answers a request, as IIS maps URLs on a CAS, plus
//! the helpers the directories share.

use super::{owa, services, Cas, Reply};
use crate::exchange::{self, BUILD};
use crate::http::{Head, RequestLine};

/// A request with its whole (small) body; RPC channels never become one.
pub struct Incoming {
    pub line: RequestLine,
    pub head: Head,
    pub body: Vec<u8>,
}

pub fn route(cas: &Cas, request: &Incoming) -> Reply {
    let path = request.line.path().to_ascii_lowercase();
    let under = |vdir: &str| path == vdir || path.starts_with(&format!("{vdir}/"));
    if path == "/owa/healthcheck.htm" {
        services::health(cas)
    } else if is_static(&path) {
        services::static_file(&path)
    } else if path == "/owa/auth.owa" {
        owa::logon(cas, request)
    } else if path == "/owa/auth/logon.aspx" {
        owa::logon_page()
    } else if path == "/owa/auth/logoff.aspx" {
        owa::logoff_page()
    } else if path == "/owa/logoff.owa" {
        owa::logoff()
    } else if under("/owa") {
        owa::application(cas, request)
    } else if under("/ecp") {
        owa::control_panel(cas, request)
    } else if path == "/ews/exchange.asmx" {
        services::web_services(request)
    } else if path == "/microsoft-server-activesync" {
        services::activesync(request)
    } else if path == "/autodiscover/autodiscover.xml" {
        services::autodiscover(cas, request)
    } else if under("/oab") {
        services::offline_address_book(request)
    } else {
        Reply::new(404, "Not Found").body(
            "text/html",
            "<html><body>404 - File or directory not found.</body></html>",
        )
    }
}

/// OWA's and ECP's versioned resources are served anonymously, as on a real CAS.
fn is_static(path: &str) -> bool {
    ["/owa/", "/owa/auth/", "/ecp/"].iter().any(|vdir| {
        path.strip_prefix(vdir)
            .is_some_and(|rest| rest.starts_with(&format!("{BUILD}/")))
    })
}

/// The Basic-authenticated user, or the 401 IIS sends when Windows and Basic are enabled.
pub fn basic_user(request: &Incoming) -> Result<String, Reply> {
    request.head.header("Authorization").and_then(exchange::basic_user).ok_or_else(|| {
        Reply::new(401, "Unauthorized")
            .header("WWW-Authenticate", "Negotiate")
            .header("WWW-Authenticate", "NTLM")
            .header("WWW-Authenticate", format!("Basic realm=\"{}\"", exchange::HOST))
            .body("text/html", "<html><body>401 - Unauthorized: Access is denied due to invalid credentials.</body></html>")
            .note("no credentials")
    })
}

/// Deterministic text of exactly `length` bytes, to give pages a realistic size.
pub fn filler(length: usize) -> String {
    const TEXT: &str = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore. ";
    TEXT.chars().cycle().take(length).collect()
}

/// An HTML page of roughly `size` bytes.
pub fn page(title: &str, size: usize) -> String {
    let frame = format!(
        "<html><head><title>{title}</title></head><body><div id=\"c\"></div></body></html>"
    );
    let padding = size.saturating_sub(frame.len() + "<!---->".len());
    frame.replace(
        "<div id=\"c\"></div>",
        &format!("<div id=\"c\"><!--{}--></div>", filler(padding)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_paths_need_the_build_folder() {
        assert!(is_static("/owa/14.3.123.4/scripts/premium/uglobal.js"));
        assert!(is_static(
            "/owa/auth/14.3.123.4/themes/resources/lgntopl.gif"
        ));
        assert!(is_static("/ecp/14.3.123.4/themes/default/main.css"));
        assert!(!is_static("/owa/14.3.123.4"));
        assert!(!is_static("/owa/?ae=Folder"));
        assert!(!is_static("/ews/14.3.123.4/x"));
    }

    #[test]
    fn pages_have_the_asked_size() {
        assert_eq!(filler(250).len(), 250);
        assert_eq!(page("Outlook Web App", 1200).len(), 1200);
        assert!(page("t", 10).starts_with("<html>"));
    }
}
