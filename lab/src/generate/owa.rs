//! OWA and ECP in a browser, over keep-alive connections: the bookmark redirected to the logon
//! form, the form's images (pipelined), the form POST that sets `cadata`, `sessionid`,
//! `UserContext` and friends, the main page, then work — folders, items, notification polls
//! carrying the `UserContext` canary, attachments, the ECP Options page and its canary-checked
//! service — on the logon connection and on parallel ones that share the cookies.
//!
//! The balancer inserts its cookie in the first response to a request without it, and pins the
//! session to one CAS; now and then it still sends a request elsewhere, and that CAS refuses
//! the foreign `cadata` with 440 Login Timeout.

use std::collections::VecDeque;
use std::net::Ipv4Addr;
use std::rc::Rc;

use super::farm::{cas_name, iis_response, lb_cookie_value, CAS_NAMES, LB_COOKIE};
use super::message::{Body, Head};
use super::outbox::{Content, Piece};
use super::script::{Close, Script, Turn};
use super::time::{Nanos, MILLISECOND, SECOND};
use crate::base64;
use crate::exchange::{BUILD, DOMAIN, EXPIRED, HOST, LOGON_COOKIES, LOGON_RESOURCES, PASSWORD};
use crate::http::url_encode;
use crate::rng::{fnv1a, Rng};
use crate::token::Ticket;

const USER_AGENT: &str = "Mozilla/5.0 (Windows NT 6.1; WOW64; Trident/7.0; rv:11.0) like Gecko";
const APP_RESOURCES: [&str; 6] = [
    "scripts/premium/uglobal.js",
    "scripts/premium/uview.js",
    "themes/base/premium.css",
    "themes/resources/clear1x1.gif",
    "themes/base/sprites.png",
    "scripts/premium/ucommon.js",
];
/// Requests the balancer sends to another CAS than the session's, per million.
const MISROUTED_PER_MILLION: u64 = 3_000;
/// When the build's static files were made.
const LAST_MODIFIED: &str = "Tue, 05 Feb 2013 10:21:33 GMT";

/// One logon of one user, shared by the connections of that browser session.
#[derive(Debug)]
pub struct OwaSession {
    pub ticket: Ticket,
    /// The CAS the balancer pins the session to.
    pub cas: usize,
    /// Set by the branch proxy in front of the browser.
    pub forwarded_for: Option<Ipv4Addr>,
    /// The browser still holds the balancer cookie from an earlier session.
    pub has_lb_cookie: bool,
    /// The browser has the static files in its cache and revalidates them.
    pub cached_resources: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    Bookmark,
    LogonForm,
    LogonImages,
    Logon,
    MainPage,
    AppResources,
    Folder,
    Item,
    Poll,
    Attachment,
    ControlPanel,
    EcpService,
    Logoff,
}

const ARRIVAL: [Step; 6] = [
    Step::Bookmark,
    Step::LogonForm,
    Step::LogonImages,
    Step::Logon,
    Step::MainPage,
    Step::AppResources,
];

pub struct OwaConnection {
    session: Rc<OwaSession>,
    steps: VecDeque<Step>,
    jar: Vec<(String, String)>,
    /// Item ids go up as the user reads through the folder.
    item: u32,
}

impl OwaConnection {
    /// The connection that arrives, logs on, works and maybe logs off.
    pub fn logon(session: Rc<OwaSession>, rng: &mut Rng, work: usize) -> OwaConnection {
        let mut steps: VecDeque<Step> = ARRIVAL.into_iter().collect();
        steps.extend(work_steps(rng, work));
        if rng.chance(30) {
            steps.push_back(Step::Logoff);
        }
        let jar = if session.has_lb_cookie {
            vec![(LB_COOKIE.to_owned(), lb_cookie_value(session.cas))]
        } else {
            Vec::new()
        };
        OwaConnection::new(session, steps, jar, rng)
    }

    /// A connection the browser opens next to the logon one once logged on.
    pub fn parallel(session: Rc<OwaSession>, rng: &mut Rng, work: usize) -> OwaConnection {
        let mut jar = vec![(LB_COOKIE.to_owned(), lb_cookie_value(session.cas))];
        jar.extend(
            logon_cookies(&session.ticket)
                .into_iter()
                .chain(main_page_cookies(&session.ticket))
                .map(|(name, value, _)| (name.to_owned(), value)),
        );
        let steps = work_steps(rng, work).collect();
        OwaConnection::new(session, steps, jar, rng)
    }

    fn new(
        session: Rc<OwaSession>,
        steps: VecDeque<Step>,
        jar: Vec<(String, String)>,
        rng: &mut Rng,
    ) -> OwaConnection {
        OwaConnection {
            session,
            steps,
            jar,
            item: rng.range(1, 90_000_000) as u32,
        }
    }

    fn cookie(&self, name: &str) -> Option<&str> {
        self.jar
            .iter()
            .find(|(cookie, _)| cookie == name)
            .map(|(_, value)| value.as_str())
    }

    fn keep(&mut self, name: &str, value: String) {
        self.jar.retain(|(cookie, _)| cookie != name);
        self.jar.push((name.to_owned(), value));
    }

    /// A browser request with the jar's cookies and the branch proxy's header.
    fn request(&self, method: &str, target: &str) -> Head {
        let head = Head::request(method, target, "HTTP/1.1")
            .header("Accept", "text/html, application/xhtml+xml, */*")
            .header("Referer", format_args!("https://{HOST}/owa/"))
            .header("Accept-Language", "en-US")
            .header("User-Agent", USER_AGENT)
            .header("Accept-Encoding", "gzip, deflate")
            .header("Host", HOST)
            .header("Connection", "Keep-Alive");
        let head = if self.jar.is_empty() {
            head
        } else {
            let cookies: Vec<String> = self
                .jar
                .iter()
                .map(|(name, value)| format!("{name}={value}"))
                .collect();
            head.header("Cookie", cookies.join("; "))
        };
        match self.session.forwarded_for {
            Some(address) => head.header("X-Forwarded-For", address),
            None => head,
        }
    }

    /// A response from `cas`, with the balancer's cookie when the request lacked it.
    fn response(&mut self, code: u16, reason: &str, cas: usize, now: Nanos) -> Head {
        let head = iis_response(code, reason, cas, now);
        if self.cookie(LB_COOKIE).is_some() {
            return head;
        }
        let value = lb_cookie_value(self.session.cas);
        let head = head.header("Set-Cookie", format_args!("{LB_COOKIE}={value}; path=/"));
        self.keep(LB_COOKIE, value);
        head
    }

    /// Adds `Set-Cookie` fields to a head and keeps the cookies.
    fn set_cookies(
        &mut self,
        head: Head,
        cookies: Vec<(&'static str, String, &'static str)>,
    ) -> Head {
        cookies
            .into_iter()
            .fold(head, |head, (name, value, attributes)| {
                let head = head.header("Set-Cookie", format_args!("{name}={value}; {attributes}"));
                self.keep(name, value);
                head
            })
    }

    fn turn(&mut self, step: Step, now: Nanos, rng: &mut Rng) -> Turn {
        match step {
            Step::Bookmark => self.bookmark(now),
            Step::LogonForm => self.logon_form(now, rng),
            Step::LogonImages => self.resources(now, rng, "/owa/auth", &LOGON_RESOURCES),
            Step::Logon => self.post_logon(now, rng),
            Step::MainPage => self.main_page(now, rng),
            Step::AppResources => {
                let count = rng.range(3, APP_RESOURCES.len() as u64) as usize;
                self.resources(now, rng, "/owa", &APP_RESOURCES[..count])
            }
            Step::Folder => self.page(
                now,
                rng,
                "/owa/?ae=Folder&t=IPF.Note".to_owned(),
                15_000,
                60_000,
            ),
            Step::Item => {
                self.item += rng.range(1, 5) as u32;
                let target = format!("/owa/?ae=Item&t=IPM.Note&id=RgAAAAC{:08}AAAJ", self.item);
                self.page(now, rng, target, 4_000, 40_000)
            }
            Step::Poll => self.poll(now, rng),
            Step::Attachment => self.attachment(now, rng),
            Step::ControlPanel => self.control_panel(now, rng),
            Step::EcpService => self.ecp_service(now, rng),
            Step::Logoff => self.logoff(now, rng),
        }
    }

    fn bookmark(&mut self, now: Nanos) -> Turn {
        let request = self.request("GET", "/owa/").finish(Body::None);
        let back = url_encode(&format!("https://{HOST}/owa/"));
        let response = self
            .response(302, "Found", self.session.cas, now)
            .header(
                "Location",
                format_args!("https://{HOST}/owa/auth/logon.aspx?url={back}&reason=0"),
            )
            .header("Content-Type", "text/html; charset=utf-8")
            .finish(Body::Fill {
                content: Content::Text,
                len: 160,
            });
        Turn::exchange(0, vec![request], 3 * MILLISECOND, vec![response])
    }

    fn logon_form(&mut self, now: Nanos, rng: &mut Rng) -> Turn {
        let back = url_encode(&format!("https://{HOST}/owa/"));
        let request = self
            .request("GET", &format!("/owa/auth/logon.aspx?url={back}&reason=0"))
            .finish(Body::None);
        let head = self
            .response(200, "OK", self.session.cas, now)
            .header("Cache-Control", "no-cache")
            .header("Pragma", "no-cache")
            .header("Content-Type", "text/html; charset=utf-8");
        let head = self.set_cookies(head, vec![("PBack", "0".to_owned(), "path=/")]);
        let response = head.finish(Body::Fill {
            content: Content::Text,
            len: rng.range(6_000, 9_000),
        });
        Turn::exchange(
            rng.range(1, 5) * MILLISECOND,
            vec![request],
            rng.range(5, 20) * MILLISECOND,
            vec![response],
        )
    }

    /// Versioned static files, pipelined; anonymous and cacheable: a browser that has them
    /// revalidates them and gets 304s.
    fn resources(&mut self, now: Nanos, rng: &mut Rng, vdir: &str, paths: &[&str]) -> Turn {
        let mut requests = Vec::new();
        let mut responses = Vec::new();
        for path in paths {
            let etag = format!("\"{:016x}\"", fnv1a(path.as_bytes()));
            let request = self.request("GET", &format!("{vdir}/{BUILD}/{path}"));
            let (content_type, content, low, high) = resource_kind(path);
            let response = if self.session.cached_resources {
                requests.push(
                    request
                        .header("If-Modified-Since", LAST_MODIFIED)
                        .header("If-None-Match", &etag)
                        .finish(Body::None),
                );
                self.response(304, "Not Modified", self.session.cas, now)
                    .header("ETag", etag)
                    .finish(Body::None)
            } else {
                requests.push(request.finish(Body::None));
                let len = low + fnv1a(path.as_bytes()) % (high - low);
                self.response(200, "OK", self.session.cas, now)
                    .header("Cache-Control", "public, max-age=2592000")
                    .header("Content-Type", content_type)
                    .header("Last-Modified", LAST_MODIFIED)
                    .header("ETag", etag)
                    .header("Accept-Ranges", "bytes")
                    .finish(Body::Fill { content, len })
            };
            responses.push(response);
        }
        Turn::exchange(
            rng.range(5, 50) * MILLISECOND,
            requests,
            rng.range(1, 4) * MILLISECOND,
            responses,
        )
    }

    fn post_logon(&mut self, now: Nanos, rng: &mut Rng) -> Turn {
        let ticket = &self.session.ticket;
        let form = format!(
            "destination={}&flags=4&forcedownlevel=0&trusted=4&username={}&password={}&isUtf8=1",
            url_encode(&format!("https://{HOST}/owa/")),
            url_encode(&format!("{DOMAIN}\\{}", ticket.user)),
            url_encode(PASSWORD)
        );
        let request = self
            .request("POST", "/owa/auth.owa")
            .header("Content-Type", "application/x-www-form-urlencoded")
            .header("Cache-Control", "no-cache")
            .finish(Body::Bytes(form.into_bytes()));
        let cookies = logon_cookies(ticket);
        let head = self
            .response(302, "Found", self.session.cas, now)
            .header("Cache-Control", "no-cache, no-store")
            .header("Location", format_args!("https://{HOST}/owa/"))
            .header("Content-Type", "text/html; charset=utf-8");
        let response = self.set_cookies(head, cookies).finish(Body::Fill {
            content: Content::Text,
            len: 140,
        });
        // The user types the password first.
        Turn::exchange(
            rng.range(3, 15) * SECOND,
            vec![request],
            rng.range(40, 200) * MILLISECOND,
            vec![response],
        )
    }

    fn main_page(&mut self, now: Nanos, rng: &mut Rng) -> Turn {
        let request = self.request("GET", "/owa/").finish(Body::None);
        let head = self
            .response(200, "OK", self.session.cas, now)
            .header("Cache-Control", "no-cache")
            .header("Pragma", "no-cache")
            .header("Content-Type", "text/html; charset=utf-8")
            .header("X-OWA-Version", BUILD);
        let head = if self.cookie("tzid").is_some() {
            head
        } else {
            self.set_cookies(head, main_page_cookies(&self.session.ticket))
        };
        let response = head.finish(Body::Chunked {
            content: Content::Text,
            len: rng.range(20_000, 60_000),
        });
        Turn::exchange(
            rng.range(1, 5) * MILLISECOND,
            vec![request],
            rng.range(30, 150) * MILLISECOND,
            vec![response],
        )
    }

    /// The CAS that answers an application request, and whether it refuses the session.
    fn route(&self, rng: &mut Rng) -> (usize, bool) {
        if rng.range(0, 999_999) < MISROUTED_PER_MILLION {
            let other = (self.session.cas + rng.range(1, CAS_NAMES.len() as u64 - 1) as usize)
                % CAS_NAMES.len();
            (other, true)
        } else {
            (self.session.cas, false)
        }
    }

    /// An application request needing the session: its response, or a 440 from a CAS that
    /// did not issue the `cadata`.
    fn application(
        &mut self,
        now: Nanos,
        rng: &mut Rng,
        request: Vec<Piece>,
        answer: impl FnOnce(Head) -> Vec<Piece>,
    ) -> Turn {
        let (cas, refused) = self.route(rng);
        let response = if refused {
            self.response(440, "Login Timeout", cas, now)
                .header("Content-Type", "text/html")
                .finish(Body::Fill {
                    content: Content::Text,
                    len: 200,
                })
        } else {
            answer(self.response(200, "OK", cas, now))
        };
        Turn::exchange(
            rng.range(1, 40) * SECOND,
            vec![request],
            rng.range(8, 60) * MILLISECOND,
            vec![response],
        )
    }

    fn page(&mut self, now: Nanos, rng: &mut Rng, target: String, low: u64, high: u64) -> Turn {
        let request = self.request("GET", &target).finish(Body::None);
        let len = rng.range(low, high);
        self.application(now, rng, request, |head| {
            head.header("Cache-Control", "no-cache")
                .header("Content-Type", "text/html; charset=utf-8")
                .finish(Body::Chunked {
                    content: Content::Text,
                    len,
                })
        })
    }

    fn poll(&mut self, now: Nanos, rng: &mut Rng) -> Turn {
        let canary = self.cookie("UserContext").unwrap_or_default();
        let body = format!("<params><canary>{canary}</canary></params>");
        let request = self
            .request("POST", "/owa/ev.owa?oeh=1&ns=Notify&ev=Poll")
            .header("Content-Type", "text/xml; charset=utf-8")
            .finish(Body::Bytes(body.into_bytes()));
        let len = rng.range(40, 400);
        self.application(now, rng, request, |head| {
            head.header("Cache-Control", "no-cache")
                .header("Content-Type", "text/html; charset=utf-8")
                .finish(Body::Fill {
                    content: Content::Text,
                    len,
                })
        })
    }

    fn attachment(&mut self, now: Nanos, rng: &mut Rng) -> Turn {
        let target = format!(
            "/owa/attachment.ashx?attach=1&id=RgAAAAC{:08}AAAJ&attcnt=1&attid0=BAAAAAAA",
            self.item
        );
        let request = self.request("GET", &target).finish(Body::None);
        // Mostly small documents, sometimes a large presentation.
        let len = if rng.chance(20) {
            rng.range(300_000, 3_000_000)
        } else {
            rng.range(20_000, 200_000)
        };
        self.application(now, rng, request, |head| {
            head.header("Cache-Control", "private")
                .header("Content-Type", "application/octet-stream")
                .header("Content-Disposition", "attachment; filename=\"report.pdf\"")
                .finish(Body::Fill {
                    content: Content::Opaque,
                    len,
                })
        })
    }

    fn control_panel(&mut self, now: Nanos, rng: &mut Rng) -> Turn {
        let request = self.request("GET", "/ecp/?rfr=owa").finish(Body::None);
        let (cas, refused) = self.route(rng);
        let response = if refused {
            self.response(440, "Login Timeout", cas, now)
                .finish(Body::Fill {
                    content: Content::Text,
                    len: 200,
                })
        } else {
            let head = self
                .response(200, "OK", cas, now)
                .header("Cache-Control", "no-cache")
                .header("Content-Type", "text/html; charset=utf-8");
            let cookies = ecp_cookies(
                &self.session.ticket,
                self.cookie("ASP.NET_SessionId").is_none(),
            );
            self.set_cookies(head, cookies).finish(Body::Chunked {
                content: Content::Text,
                len: rng.range(20_000, 50_000),
            })
        };
        Turn::exchange(
            rng.range(2, 30) * SECOND,
            vec![request],
            rng.range(50, 250) * MILLISECOND,
            vec![response],
        )
    }

    fn ecp_service(&mut self, now: Nanos, rng: &mut Rng) -> Turn {
        let canary = self
            .cookie("msExchEcpCanary")
            .unwrap_or_default()
            .to_owned();
        let request = self
            .request(
                "POST",
                &format!("/ecp/PersonalSettings/Accounts.svc/GetObject?msExchEcpCanary={canary}"),
            )
            .header("Content-Type", "application/json; charset=utf-8")
            .finish(Body::Bytes(b"{\"identity\":null}".to_vec()));
        let len = rng.range(300, 2_000);
        self.application(now, rng, request, |head| {
            head.header("Cache-Control", "no-cache")
                .header("Content-Type", "application/json; charset=utf-8")
                .finish(Body::Fill {
                    content: Content::Text,
                    len,
                })
        })
    }

    fn logoff(&mut self, now: Nanos, rng: &mut Rng) -> Turn {
        let request = self.request("GET", "/owa/logoff.owa").finish(Body::None);
        let head = self
            .response(302, "Found", self.session.cas, now)
            .header("Location", "/owa/auth/logoff.aspx?Cmd=logoff&src=exch")
            .header("Content-Type", "text/html; charset=utf-8");
        let head = LOGON_COOKIES.iter().fold(head, |head, name| {
            head.header("Set-Cookie", format_args!("{name}=; {EXPIRED}; path=/"))
        });
        self.jar
            .retain(|(name, _)| !LOGON_COOKIES.contains(&name.as_str()));
        let response = head.finish(Body::Fill {
            content: Content::Text,
            len: 170,
        });
        Turn::exchange(
            rng.range(2, 20) * SECOND,
            vec![request],
            20 * MILLISECOND,
            vec![response],
        )
    }
}

impl Script for OwaConnection {
    fn next_turn(&mut self, now: Nanos, rng: &mut Rng) -> Option<Turn> {
        let step = self.steps.pop_front()?;
        Some(self.turn(step, now, rng))
    }

    /// IE drops idle connections after a minute, IIS after two; closed browsers reset them.
    fn close(&self, rng: &mut Rng) -> Close {
        let roll = rng.range(0, 99);
        if roll < 55 {
            Close {
                after: 60 * SECOND,
                by_client: true,
                reset: false,
            }
        } else if roll < 90 {
            Close {
                after: 120 * SECOND,
                by_client: false,
                reset: false,
            }
        } else {
            Close {
                after: rng.range(1, 30) * SECOND,
                by_client: true,
                reset: true,
            }
        }
    }
}

/// The work a connection does: folder and item views, polls, attachments, the Options page.
fn work_steps(rng: &mut Rng, count: usize) -> impl Iterator<Item = Step> + '_ {
    (0..count).flat_map(move |_| match rng.range(0, 99) {
        0..=19 => vec![Step::Folder],
        20..=54 => vec![Step::Item],
        55..=89 => vec![Step::Poll],
        90..=94 => vec![Step::Attachment],
        _ => vec![Step::ControlPanel, Step::EcpService],
    })
}

/// Content type, kind and size range of a static file, by extension.
fn resource_kind(path: &str) -> (&'static str, Content, u64, u64) {
    match path.rsplit_once('.').map_or("", |(_, extension)| extension) {
        // Gzipped by IIS's static compression.
        "js" => ("application/x-javascript", Content::Opaque, 15_000, 90_000),
        "css" => ("text/css", Content::Opaque, 3_000, 20_000),
        "png" => ("image/png", Content::Opaque, 2_000, 30_000),
        _ => ("image/gif", Content::Opaque, 100, 4_000),
    }
}

/// `cadata` and friends, as the logon sets them: (name, value, attributes).
fn logon_cookies(ticket: &Ticket) -> Vec<(&'static str, String, &'static str)> {
    let quoted = |label: &str| format!("\"{}\"", base64::encode(&ticket.derived_bytes(label, 32)));
    vec![
        (
            "cadata",
            format!("\"{}\"", ticket.seal()),
            "HttpOnly; path=/",
        ),
        ("cadataIV", quoted("cadataIV"), "HttpOnly; path=/"),
        ("cadataKey", quoted("cadataKey"), "HttpOnly; path=/"),
        ("cadataSig", quoted("cadataSig"), "HttpOnly; path=/"),
        ("cadataTTL", quoted("cadataTTL"), "HttpOnly; path=/"),
        ("sessionid", ticket.derived_guid("sessionid"), "path=/"),
        (
            "UserContext",
            ticket.derived_hex("UserContext", 16),
            "path=/",
        ),
        (
            "logondata",
            format!("acc=0&lgn={DOMAIN}\\{}", ticket.user),
            "path=/",
        ),
    ]
}

/// The client-state cookies the first main page sets.
fn main_page_cookies(ticket: &Ticket) -> Vec<(&'static str, String, &'static str)> {
    vec![
        (
            "OutlookSession",
            ticket.derived_guid("OutlookSession"),
            "path=/; HttpOnly",
        ),
        ("owacsdc", ticket.derived_hex("owacsdc", 8), "path=/"),
        ("tzid", "W. Europe Standard Time".to_owned(), "path=/"),
    ]
}

/// The ECP canary, and the ASP.NET session the first visit gets.
fn ecp_cookies(ticket: &Ticket, first_visit: bool) -> Vec<(&'static str, String, &'static str)> {
    const ASPNET_ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz012345";
    let mut cookies = vec![(
        "msExchEcpCanary",
        ticket.derived_hex("msExchEcpCanary", 32),
        "path=/ecp",
    )];
    if first_visit {
        let session: String = ticket
            .derived_bytes("ASP.NET_SessionId", 24)
            .iter()
            .map(|byte| char::from(ASPNET_ALPHABET[usize::from(byte % 32)]))
            .collect();
        cookies.push(("ASP.NET_SessionId", session, "path=/; HttpOnly"));
    }
    cookies
}

/// The ticket of `user`'s logon number `serial` on `cas`.
pub fn ticket_for(user: &str, cas: usize, serial: u32) -> Ticket {
    Ticket {
        issuer: cas_name(cas).to_owned(),
        user: user.to_owned(),
        serial,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::outbox::pieces_text;
    use crate::generate::time::CAPTURE_START;

    fn session(has_lb_cookie: bool) -> Rc<OwaSession> {
        Rc::new(OwaSession {
            ticket: ticket_for("user42", 2, 7),
            cas: 2,
            forwarded_for: Some(Ipv4Addr::new(172, 16, 3, 9)),
            has_lb_cookie,
            cached_resources: has_lb_cookie,
        })
    }

    fn turns(connection: &mut OwaConnection, rng: &mut Rng) -> Vec<(String, String)> {
        std::iter::from_fn(|| connection.next_turn(CAPTURE_START, rng))
            .map(|turn| (pieces_text(turn.client), pieces_text(turn.server)))
            .collect()
    }

    #[test]
    fn logon_sets_the_session_cookies_then_requests_send_them() {
        let mut rng = Rng::new(5);
        let mut connection = OwaConnection::logon(session(false), &mut rng, 6);
        let turns = turns(&mut connection, &mut rng);
        let (bookmark, redirect) = &turns[0];
        assert!(bookmark.starts_with("GET /owa/ HTTP/1.1\r\n"));
        assert!(!bookmark.contains("Cookie:"));
        assert!(bookmark.contains("X-Forwarded-For: 172.16.3.9\r\n"));
        assert!(redirect.starts_with("HTTP/1.1 302 Found\r\n"));
        assert!(redirect
            .contains("Set-Cookie: BIGipServerpool_exchange_cas=218174474.20480.0000; path=/\r\n"));
        assert!(redirect.contains("X-FEServer: CAS03\r\n"));
        // The logon images are pipelined: three requests in one turn.
        assert_eq!(
            turns[2]
                .0
                .matches("GET /owa/auth/14.3.123.4/themes/resources/")
                .count(),
            3
        );
        assert_eq!(turns[2].1.matches("HTTP/1.1 200 OK").count(), 3);
        let (logon, logged_on) = &turns[3];
        assert!(logon.starts_with("POST /owa/auth.owa HTTP/1.1\r\n"));
        assert!(logon.contains("username=CONTOSO%5Cuser42&password="));
        let ticket = &session(false).ticket;
        assert!(logged_on.contains(&format!(
            "Set-Cookie: cadata=\"{}\"; HttpOnly; path=/\r\n",
            ticket.seal()
        )));
        let user_context = ticket.derived_hex("UserContext", 16);
        assert!(logged_on.contains(&format!(
            "Set-Cookie: UserContext={user_context}; path=/\r\n"
        )));
        assert!(logged_on.contains(&format!("sessionid={}", ticket.derived_guid("sessionid"))));
        // Every later request carries the balancer cookie, cadata and UserContext.
        for (request, _) in &turns[4..] {
            assert!(request.contains(
                "Cookie: BIGipServerpool_exchange_cas=218174474.20480.0000; PBack=0; cadata=\""
            ));
            assert!(request.contains(&format!("UserContext={user_context}")));
        }
        let main_page = &turns[4].1;
        assert!(main_page.contains("Transfer-Encoding: chunked\r\n"));
        assert!(main_page.contains("Set-Cookie: tzid=W. Europe Standard Time; path=/\r\n"));
    }

    #[test]
    fn returning_browsers_send_their_cookie_and_revalidate_static_files() {
        let mut rng = Rng::new(5);
        let mut connection = OwaConnection::logon(session(true), &mut rng, 0);
        let turns = turns(&mut connection, &mut rng);
        assert!(turns[0]
            .0
            .contains("Cookie: BIGipServerpool_exchange_cas=218174474.20480.0000\r\n"));
        assert!(!turns[0].1.contains("Set-Cookie: BIGipServer"));
        let (images, answers) = &turns[2];
        assert_eq!(images.matches("If-None-Match: \"").count(), 3);
        assert_eq!(answers.matches("HTTP/1.1 304 Not Modified\r\n").count(), 3);
        assert!(!answers.contains("Content-Length"));
    }

    #[test]
    fn parallel_connections_start_logged_on() {
        let mut rng = Rng::new(8);
        let mut connection = OwaConnection::parallel(session(true), &mut rng, 40);
        let turns = turns(&mut connection, &mut rng);
        assert!(turns.len() >= 40);
        for (request, response) in &turns {
            assert!(request.contains("; cadata=\""));
            assert!(!response.contains("Set-Cookie: BIGipServer"));
        }
        let polls: Vec<&(String, String)> = turns
            .iter()
            .filter(|(request, _)| request.contains("ev=Poll"))
            .collect();
        assert!(!polls.is_empty());
        let canary = session(true).ticket.derived_hex("UserContext", 16);
        assert!(polls.iter().all(|(request, _)| request
            .ends_with(&format!("<params><canary>{canary}</canary></params>"))));
    }

    #[test]
    fn misrouted_requests_get_login_timeouts_from_another_cas() {
        let mut rng = Rng::new(1);
        let mut connection = OwaConnection::parallel(session(true), &mut rng, 3_000);
        let turns = turns(&mut connection, &mut rng);
        let refused: Vec<&String> = turns
            .iter()
            .map(|(_, response)| response)
            .filter(|r| r.starts_with("HTTP/1.1 440"))
            .collect();
        assert!(!refused.is_empty() && refused.len() < turns.len() / 50);
        assert!(refused
            .iter()
            .all(|response| !response.contains("X-FEServer: CAS03")));
        let served = turns
            .iter()
            .filter(|(_, response)| response.starts_with("HTTP/1.1 200"))
            .count();
        assert_eq!(served + refused.len(), turns.len());
    }

    #[test]
    fn control_panel_sets_the_canary_its_service_sends() {
        let mut rng = Rng::new(2);
        let mut connection = OwaConnection::parallel(session(true), &mut rng, 0);
        connection
            .steps
            .extend([Step::ControlPanel, Step::EcpService]);
        let turns = turns(&mut connection, &mut rng);
        let canary = session(true).ticket.derived_hex("msExchEcpCanary", 32);
        assert!(turns[0].1.contains(&format!(
            "Set-Cookie: msExchEcpCanary={canary}; path=/ecp\r\n"
        )));
        assert!(turns[0].1.contains("Set-Cookie: ASP.NET_SessionId="));
        assert!(turns[1].0.starts_with(&format!(
            "POST /ecp/PersonalSettings/Accounts.svc/GetObject?msExchEcpCanary={canary} HTTP/1.1"
        )));
        assert!(turns[1].0.contains(&format!("msExchEcpCanary={canary}")));
    }
}
