//! An OWA user in a browser: arrives at `/owa/`, is sent to the logon form, fetches its
//! images, posts the form, then works over several parallel keep-alive connections sharing one
//! cookie jar (static files pipelined, application requests, sometimes the ECP Options page),
//! and maybe logs off. A 440 Login Timeout, or a redirect to the form, makes it log on again —
//! once for all its connections — and repeat what was refused; it gives up after a few logons.

use std::io;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread;

use super::jar::Jar;
use super::link::{Link, Request, Response, Tally};
use super::net::Dialer;
use super::plan::{Browser, OwaAction, OwaPage, Step};
use super::Clock;
use crate::exchange::{BUILD, DOMAIN, HOST, LOGON_RESOURCES, PASSWORD};
use crate::http::url_encode;

const USER_AGENT: &str = "Mozilla/5.0 (Windows NT 6.1; WOW64; Trident/7.0; rv:11.0) like Gecko";
/// Logons after the first before the user gives up.
const MAX_RELOGONS: u32 = 3;

/// The logon shared by a user's connections.
struct Session {
    user: String,
    jar: Arc<Mutex<Jar>>,
    logons: Mutex<Logons>,
}

#[derive(Default)]
struct Logons {
    /// Bumped by every logon after the first; lets a connection see that another one already
    /// logged on again.
    generation: u32,
    relogons: u32,
}

impl Session {
    fn logons(&self) -> MutexGuard<'_, Logons> {
        self.logons.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn cookie(&self, name: &str) -> String {
        self.jar
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
            .unwrap_or_default()
            .to_owned()
    }

    /// Posts the logon form and follows the redirect to the destination.
    fn logon(&self, link: &mut Link) -> io::Result<()> {
        let form = format!(
            "destination={}&flags=4&forcedownlevel=0&trusted=4&username={}&password={}&isUtf8=1",
            url_encode(&format!("https://{HOST}/owa/")),
            url_encode(&format!("{DOMAIN}\\{}", self.user)),
            url_encode(PASSWORD)
        );
        let posted = link.send(&browser(Request::post(
            "/owa/auth.owa",
            "application/x-www-form-urlencoded",
            form,
        )))?;
        follow(link, &posted).map(drop)
    }

    /// Logs on again unless another connection did since `seen` was read.
    fn relogon(&self, link: &mut Link, seen: u32) -> io::Result<()> {
        // Held during the logon, so that the user's other connections wait for it.
        let mut logons = self.logons();
        if logons.generation != seen {
            return Ok(());
        }
        if logons.relogons >= MAX_RELOGONS {
            return Err(io::Error::other("too many logons, giving up"));
        }
        logons.relogons += 1;
        self.logon(link)?;
        logons.generation += 1;
        Ok(())
    }

    /// Sends application requests; those refused for want of a valid logon are sent again
    /// after logging on again.
    fn authed(&self, link: &mut Link, requests: &[Request]) -> io::Result<Vec<Response>> {
        let seen = self.logons().generation;
        let responses = link.exchange(requests)?;
        let refused: Vec<Request> = requests
            .iter()
            .zip(&responses)
            .filter(|(_, response)| needs_logon(response))
            .map(|(request, _)| request.clone())
            .collect();
        if refused.is_empty() {
            return Ok(responses);
        }
        self.relogon(link, seen)?;
        link.exchange(&refused)
    }
}

fn needs_logon(response: &Response) -> bool {
    response.code == 440
        || (response.code == 302
            && response
                .location()
                .is_some_and(|location| location.contains("/owa/auth/logon.aspx")))
}

fn browser(request: Request) -> Request {
    request
        .header("Accept", "*/*")
        .header("Accept-Language", "en-US")
        .header("User-Agent", USER_AGENT)
        .header("Connection", "Keep-Alive")
}

/// Follows a redirect (absolute or not) with a GET; other responses are returned as they are.
fn follow(link: &mut Link, response: &Response) -> io::Result<Option<Response>> {
    let Some(location) = response.location().filter(|_| response.code == 302) else {
        return Ok(None);
    };
    let target = location
        .strip_prefix(&format!("https://{HOST}"))
        .unwrap_or(location);
    link.send(&browser(Request::get(target))).map(Some)
}

pub fn run(plan: &Browser, dialer: &Dialer, clock: &Clock) -> String {
    clock.sleep_until(plan.start);
    let jar = Arc::new(Mutex::new(Jar::default()));
    let session = Session {
        user: plan.user.clone(),
        jar: Arc::clone(&jar),
        logons: Mutex::default(),
    };
    let mut first = Link::new(dialer, plan.from, Some(Arc::clone(&jar)));
    let mut tally = Tally::default();
    let outcome = match arrive(&mut first, &session) {
        Err(error) => {
            tally.merge(first.tally);
            format!("logon failed: {error}")
        }
        Ok(()) => {
            let mut links = work_in_parallel(plan, first, &session, dialer, clock, &jar);
            let logoff = match links.first_mut() {
                Some(link) if plan.logs_off => log_off(link)
                    .err()
                    .map(|error| format!(" logoff failed: {error}")),
                _ => None,
            };
            for link in links {
                tally.merge(link.tally);
            }
            format!(
                "{} connections, {} relogons{}",
                plan.connections.len(),
                session.logons().relogons,
                logoff.unwrap_or_default()
            )
        }
    };
    format!(
        "owa {} from {}: {outcome}; {}",
        plan.user,
        plan.from,
        tally.summary()
    )
}

/// The bookmark, the redirect to the form, the form's images, the logon.
fn arrive(link: &mut Link, session: &Session) -> io::Result<()> {
    let bookmark = link.send(&browser(Request::get("/owa/")))?;
    follow(link, &bookmark)?;
    let images: Vec<Request> = LOGON_RESOURCES
        .iter()
        .map(|path| browser(Request::get(&format!("/owa/auth/{BUILD}/{path}"))))
        .collect();
    link.exchange(&images)?;
    session.logon(link)
}

/// Runs each connection's steps on its own thread; returns the links, first one first.
fn work_in_parallel(
    plan: &Browser,
    first: Link,
    session: &Session,
    dialer: &Dialer,
    clock: &Clock,
    jar: &Arc<Mutex<Jar>>,
) -> Vec<Link> {
    let mut first = Some(first);
    thread::scope(|scope| {
        let handles: Vec<_> = plan
            .connections
            .iter()
            .map(|steps| {
                let mut link = first
                    .take()
                    .unwrap_or_else(|| Link::new(dialer, plan.from, Some(Arc::clone(jar))));
                scope.spawn(move || {
                    work(&mut link, steps, session, clock);
                    link
                })
            })
            .collect();
        handles
            .into_iter()
            .filter_map(|handle| handle.join().ok())
            .collect()
    })
}

fn work(link: &mut Link, steps: &[Step<OwaAction>], session: &Session, clock: &Clock) {
    for step in steps {
        if !clock.sleep(step.pause) {
            return;
        }
        let result = match &step.action {
            OwaAction::Resources(paths) => {
                let requests: Vec<Request> = paths
                    .iter()
                    .map(|path| browser(Request::get(&format!("/owa/{BUILD}/{path}"))))
                    .collect();
                link.exchange(&requests).map(drop)
            }
            OwaAction::Pages(pages) => {
                let requests: Vec<Request> = pages
                    .iter()
                    .map(|page| page_request(page, session))
                    .collect();
                session.authed(link, &requests).map(drop)
            }
            OwaAction::ControlPanel => control_panel(link, session),
        };
        if result.is_err() {
            return;
        }
    }
}

fn page_request(page: &OwaPage, session: &Session) -> Request {
    let request = match page {
        OwaPage::Folder => Request::get("/owa/?ae=Folder&t=IPF.Note"),
        OwaPage::Item(id) => {
            Request::get(&format!("/owa/?ae=Item&t=IPM.Note&id=RgAAAAC{id:08}AAAJ"))
        }
        OwaPage::Attachment(id) => Request::get(&format!(
            "/owa/attachment.ashx?attach=1&id=RgAAAAC{id:08}AAAJ&attcnt=1&attid0=BAAAAAAA"
        )),
        OwaPage::Poll => {
            let body = format!(
                "<params><canary>{}</canary></params>",
                session.cookie("UserContext")
            );
            Request::post(
                "/owa/ev.owa?oeh=1&ns=Notify&ev=Poll",
                "text/xml; charset=utf-8",
                body,
            )
        }
    };
    browser(request.header("Referer", &format!("https://{HOST}/owa/")))
}

/// The Options page: ECP shares the OWA logon, then calls a service with its canary.
fn control_panel(link: &mut Link, session: &Session) -> io::Result<()> {
    session.authed(link, &[browser(Request::get("/ecp/?rfr=owa"))])?;
    let resources: Vec<Request> = ["themes/default/main.css", "scripts/common.js"]
        .iter()
        .map(|path| browser(Request::get(&format!("/ecp/{BUILD}/{path}"))))
        .collect();
    link.exchange(&resources)?;
    let canary = session.cookie("msExchEcpCanary");
    let service = Request::post(
        &format!("/ecp/PersonalSettings/Accounts.svc/GetObject?msExchEcpCanary={canary}"),
        "application/json; charset=utf-8",
        "{\"identity\":null}",
    );
    session.authed(link, &[browser(service)]).map(drop)
}

fn log_off(link: &mut Link) -> io::Result<()> {
    let response = link.send(&browser(Request::get("/owa/logoff.owa")))?;
    follow(link, &response).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::Head;

    fn response(code: u16, location: Option<&str>) -> Response {
        let headers = location
            .map(|l| vec![("Location".to_owned(), l.to_owned())])
            .unwrap_or_default();
        Response {
            code,
            head: Head {
                start: String::new(),
                headers,
            },
            body: Vec::new(),
            closes: false,
        }
    }

    #[test]
    fn login_timeout_and_redirects_to_the_form_need_a_logon() {
        assert!(needs_logon(&response(440, None)));
        assert!(needs_logon(&response(
            302,
            Some("/owa/auth/logon.aspx?url=x&reason=0")
        )));
        assert!(!needs_logon(&response(
            302,
            Some("/owa/auth/logoff.aspx?Cmd=logoff")
        )));
        assert!(!needs_logon(&response(200, None)));
        assert!(!needs_logon(&response(401, None)));
    }

    #[test]
    fn page_requests_carry_the_user_context_canary() {
        let jar = Arc::new(Mutex::new(Jar::default()));
        jar.lock().unwrap().absorb(&Head {
            start: String::new(),
            headers: vec![("Set-Cookie".into(), "UserContext=ABC; path=/".into())],
        });
        let session = Session {
            user: "user1".into(),
            jar,
            logons: Mutex::default(),
        };
        let poll = String::from_utf8(page_request(&OwaPage::Poll, &session).encode(None)).unwrap();
        assert!(poll.starts_with("POST /owa/ev.owa?oeh=1&ns=Notify&ev=Poll HTTP/1.1\r\n"));
        assert!(poll.ends_with("<params><canary>ABC</canary></params>"));
        let item =
            String::from_utf8(page_request(&OwaPage::Item(42), &session).encode(None)).unwrap();
        assert!(
            item.starts_with("GET /owa/?ae=Item&t=IPM.Note&id=RgAAAAC00000042AAAJ HTTP/1.1\r\n")
        );
        assert!(item.contains("Referer: https://mail.contoso.test/owa/\r\n"));
    }
}
