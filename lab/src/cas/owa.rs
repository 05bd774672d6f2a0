//! OWA and ECP: forms-based authentication, the applications where Exchange 2010 needs
//! affinity. A logon issues `cadata` (and friends) bound to this CAS; a request that brings
//! another CAS's `cadata` is refused with 440 Login Timeout, after which the browser logs on
//! again; a request without `cadata` is sent to the logon page.

use super::routes::{page, Incoming};
use super::{Cas, Reply};
use crate::base64;
use crate::exchange::{DOMAIN, EXPIRED, LOGON_COOKIES, PASSWORD};
use crate::http::{self, form_field};
use crate::token::Ticket;

enum Session {
    Valid(Ticket),
    Missing,
    Refused(String),
}

fn session(cas: &Cas, request: &Incoming) -> Session {
    let Some(cadata) = request.head.cookie("cadata") else {
        return Session::Missing;
    };
    match Ticket::open(cadata) {
        Some(ticket) if ticket.issuer == cas.name => Session::Valid(ticket),
        Some(ticket) => Session::Refused(format!(
            "user={} cadata-from={}",
            ticket.user, ticket.issuer
        )),
        None => Session::Refused("cadata-unreadable".to_owned()),
    }
}

/// The logged-on session, or the reply that sends the browser (back) to the logon form.
fn require_session(cas: &Cas, request: &Incoming) -> Result<Ticket, Reply> {
    match session(cas, request) {
        Session::Valid(ticket) => Ok(ticket),
        Session::Missing => {
            let back = http::url_encode(&format!(
                "https://{}{}",
                crate::exchange::HOST,
                request.line.target
            ));
            Err(
                Reply::redirect(&format!("/owa/auth/logon.aspx?url={back}&reason=0"))
                    .note("no cadata"),
            )
        }
        Session::Refused(why) => Err(Reply::new(440, "Login Timeout")
            .body("text/html", page("Login Timeout", 200))
            .note(why)),
    }
}

pub fn logon_page() -> Reply {
    Reply::ok()
        .header("Cache-Control", "no-cache")
        .cookie("cookieTest=1; path=/")
        .body("text/html; charset=utf-8", page("Outlook Web App", 700))
}

/// `POST /owa/auth.owa`: form fields `destination`, `username`, `password`.
pub fn logon(cas: &Cas, request: &Incoming) -> Reply {
    let form = String::from_utf8_lossy(&request.body);
    let destination = form_field(&form, "destination").unwrap_or_else(|| "/owa/".to_owned());
    let Some(user) = form_field(&form, "username").and_then(|login| account_of(&login)) else {
        return Reply::redirect("/owa/auth/logon.aspx?replaceCurrent=1&reason=2")
            .note("logon without user");
    };
    if form_field(&form, "password").as_deref() != Some(PASSWORD) {
        return Reply::redirect("/owa/auth/logon.aspx?replaceCurrent=1&reason=2")
            .note(format!("user={user} bad password"));
    }
    let ticket = Ticket {
        issuer: cas.name.clone(),
        user,
        serial: cas.next_serial(),
    };
    let quoted = |label: &str| format!("\"{}\"", base64::encode(&ticket.derived_bytes(label, 32)));
    Reply::redirect(&destination)
        .header("Cache-Control", "no-cache, no-store")
        .cookie(format!("cadata=\"{}\"; HttpOnly; path=/", ticket.seal()))
        .cookie(format!("cadataIV={}; HttpOnly; path=/", quoted("cadataIV")))
        .cookie(format!(
            "cadataKey={}; HttpOnly; path=/",
            quoted("cadataKey")
        ))
        .cookie(format!(
            "cadataSig={}; HttpOnly; path=/",
            quoted("cadataSig")
        ))
        .cookie(format!(
            "cadataTTL={}; HttpOnly; path=/",
            quoted("cadataTTL")
        ))
        .cookie(format!(
            "sessionid={}; path=/",
            ticket.derived_guid("sessionid")
        ))
        .cookie(format!(
            "UserContext={}; path=/",
            ticket.derived_hex("UserContext", 16)
        ))
        .cookie("PBack=0; path=/")
        .cookie(format!(
            "logondata=acc=0&lgn={DOMAIN}\\{}; path=/",
            ticket.user
        ))
        .cookie(format!("cookieTest=; {EXPIRED}; path=/"))
        .note(format!(
            "user={} logon serial={}",
            ticket.user, ticket.serial
        ))
}

/// `DOMAIN\user`, `user@domain` or `user`.
fn account_of(login: &str) -> Option<String> {
    let user = login.rsplit_once('\\').map_or(login, |(_, user)| user);
    let user = user.split_once('@').map_or(user, |(user, _)| user);
    (!user.is_empty()).then(|| user.to_owned())
}

pub fn logoff() -> Reply {
    LOGON_COOKIES
        .iter()
        .fold(
            Reply::redirect("/owa/auth/logoff.aspx?Cmd=logoff&src=exch"),
            |reply, name| reply.cookie(format!("{name}=; {EXPIRED}; path=/")),
        )
        .note("logoff")
}

pub fn logoff_page() -> Reply {
    Reply::ok().body("text/html; charset=utf-8", page("Outlook Web App", 500))
}

/// Everything else under `/owa/`: needs the session.
pub fn application(cas: &Cas, request: &Incoming) -> Reply {
    let ticket = match require_session(cas, request) {
        Ok(ticket) => ticket,
        Err(reply) => return reply,
    };
    let path = request.line.path().to_ascii_lowercase();
    let note = format!("user={}", ticket.user);
    if path.ends_with("/ev.owa") {
        let event = http::form_field(request.line.query(), "ev").unwrap_or_default();
        Reply::ok()
            .header("Cache-Control", "no-cache")
            .body("text/html; charset=utf-8", page("", 240))
            .note(format!("{note} ev={event}"))
    } else if path.ends_with("/attachment.ashx") {
        Reply::ok()
            .header("Cache-Control", "private")
            .body("application/octet-stream", page("", 700))
            .note(note)
    } else if path == "/owa" || (path == "/owa/" && request.line.query().is_empty()) {
        main_page(&ticket, request).note(note)
    } else {
        Reply::ok()
            .header("Cache-Control", "no-cache")
            .body("text/html; charset=utf-8", page("Outlook Web App", 500))
            .note(note)
    }
}

/// The first page after logon also sets the client-state cookies.
fn main_page(ticket: &Ticket, request: &Incoming) -> Reply {
    let reply = Reply::ok()
        .header("Cache-Control", "no-cache")
        .header("X-OWA-Version", crate::exchange::BUILD);
    let reply = if request.head.cookie("tzid").is_some() {
        reply
    } else {
        reply
            .cookie(format!(
                "OutlookSession={}; path=/; HttpOnly",
                ticket.derived_guid("OutlookSession")
            ))
            .cookie(format!(
                "owacsdc={}; path=/",
                ticket.derived_hex("owacsdc", 8)
            ))
            .cookie("tzid=W. Europe Standard Time; path=/")
    };
    reply.body("text/html; charset=utf-8", page("Outlook Web App", 800))
}

/// `/ecp/`: shares OWA's logon; its web services also need the canary it issues.
pub fn control_panel(cas: &Cas, request: &Incoming) -> Reply {
    let ticket = match require_session(cas, request) {
        Ok(ticket) => ticket,
        Err(reply) => return reply,
    };
    let canary = ticket.derived_hex("msExchEcpCanary", 32);
    let note = format!("user={}", ticket.user);
    let path = request.line.path().to_ascii_lowercase();
    if path.ends_with(".svc") || path.contains(".svc/") {
        let sent = http::form_field(request.line.query(), "msExchEcpCanary");
        if sent.as_deref() != Some(canary.as_str())
            || request.head.cookie("msExchEcpCanary") != Some(canary.as_str())
        {
            return Reply::new(440, "Login Timeout")
                .body("text/html", page("Login Timeout", 200))
                .note(format!("{note} bad canary"));
        }
        return Reply::ok().header("Cache-Control", "no-cache").body("application/json; charset=utf-8", format!("{{\"d\":{{\"__type\":\"JsonDictionaryOfanyType:#Microsoft.Exchange.Management.ControlPanel\",\"Output\":[\"{}\"]}}}}", ticket.user)).note(note);
    }
    let reply = Reply::ok()
        .header("Cache-Control", "no-cache")
        .cookie(format!("msExchEcpCanary={canary}; path=/ecp"));
    let reply = if request.head.cookie("ASP.NET_SessionId").is_some() {
        reply
    } else {
        reply
            .cookie(format!(
                "ASP.NET_SessionId={}; path=/; HttpOnly",
                aspnet_session_id(&ticket)
            ))
            .cookie("ecpCookieTest=1; path=/ecp")
            .cookie("MstrPgLd1=1; path=/ecp")
            .cookie("MstrPgLd2=1; path=/ecp")
    };
    reply
        .body("text/html; charset=utf-8", page("Options", 700))
        .note(note)
}

/// ASP.NET's session id alphabet: 24 characters of `a-z0-5`.
fn aspnet_session_id(ticket: &Ticket) -> String {
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz012345";
    ticket
        .derived_bytes("ASP.NET_SessionId", 24)
        .iter()
        .map(|byte| char::from(ALPHABET[usize::from(byte % 32)]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_forms() {
        assert_eq!(account_of("CONTOSO\\user1"), Some("user1".to_owned()));
        assert_eq!(account_of("user2@contoso.test"), Some("user2".to_owned()));
        assert_eq!(account_of("user3"), Some("user3".to_owned()));
        assert_eq!(account_of("CONTOSO\\"), None);
    }

    #[test]
    fn aspnet_ids_use_their_alphabet() {
        let id = aspnet_session_id(&Ticket {
            issuer: "CAS01".into(),
            user: "u".into(),
            serial: 1,
        });
        assert_eq!(id.len(), 24);
        assert!(id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || (b'0'..=b'5').contains(&b)));
    }
}
