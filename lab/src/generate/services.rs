//! The small services: an EWS application's SOAP calls (Basic credentials, the `exchangecookie`
//! Exchange sets and the client returns) and the balancer's health probes, one connection each.

use super::farm::{cas_name, iis_response};
use super::message::{Body, Head};
use super::outbox::{Content, Piece};
use super::script::{Close, Script, Turn};
use super::time::{Nanos, MILLISECOND, SECOND};
use crate::exchange::{basic_authorization, HOST};
use crate::rng::{fnv1a, Rng};

const EWS_USER_AGENT: &str = "ExchangeServicesClient/14.03.0032.000";
const EWS_ACTIONS: [&str; 5] = [
    "FindItem",
    "GetItem",
    "SyncFolderItems",
    "GetFolder",
    "GetUserAvailability",
];
const EXCHANGE_COOKIE: &str = "exchangecookie";

/// An application (a CRM connector, a mobile-device manager) calling EWS as one user.
pub struct EwsConnection {
    user: String,
    cas: usize,
    calls_left: u32,
    has_cookie: bool,
}

impl EwsConnection {
    pub fn new(user: String, cas: usize, rng: &mut Rng) -> EwsConnection {
        EwsConnection {
            user,
            cas,
            calls_left: rng.range(2, 25) as u32,
            has_cookie: false,
        }
    }

    fn cookie_value(&self) -> String {
        format!("{:016x}", fnv1a(self.user.as_bytes()))
    }

    fn call(&mut self, now: Nanos, rng: &mut Rng) -> Turn {
        let action = EWS_ACTIONS[rng.range(0, EWS_ACTIONS.len() as u64 - 1) as usize];
        let head = Head::request("POST", "/EWS/Exchange.asmx", "HTTP/1.1")
            .header("Content-Type", "text/xml; charset=utf-8")
            .header("Accept", "text/xml")
            .header("User-Agent", EWS_USER_AGENT)
            .header(
                "SOAPAction",
                format_args!(
                    "\"http://schemas.microsoft.com/exchange/services/2006/messages/{action}\""
                ),
            )
            .header("Authorization", basic_authorization(&self.user))
            .header("Host", HOST);
        let head = if self.has_cookie {
            head.header(
                "Cookie",
                format_args!("{EXCHANGE_COOKIE}={}", self.cookie_value()),
            )
        } else {
            head
        };
        let request = head.finish(Body::Fill {
            content: Content::Text,
            len: rng.range(600, 3_000),
        });
        let mut response = iis_response(200, "OK", self.cas, now)
            .header("Cache-Control", "private")
            .header("Content-Type", "text/xml; charset=utf-8");
        if !self.has_cookie {
            response = response.header(
                "Set-Cookie",
                format_args!(
                    "{EXCHANGE_COOKIE}={}; expires=Fri, 01-Jan-2038 00:00:00 GMT; path=/",
                    self.cookie_value()
                ),
            );
            self.has_cookie = true;
        }
        let len = rng.range(1_000, 60_000);
        let response = response.finish(Body::Chunked {
            content: Content::Text,
            len,
        });
        Turn::exchange(
            rng.range(100, 20_000) * MILLISECOND,
            vec![request],
            rng.range(20, 300) * MILLISECOND,
            vec![response],
        )
    }
}

impl Script for EwsConnection {
    fn next_turn(&mut self, now: Nanos, rng: &mut Rng) -> Option<Turn> {
        self.calls_left = self.calls_left.checked_sub(1)?;
        Some(self.call(now, rng))
    }

    fn close(&self, rng: &mut Rng) -> Close {
        Close {
            after: rng.range(5, 100) * SECOND,
            by_client: rng.chance(50),
            reset: false,
        }
    }
}

/// The balancer's HTTP monitor of one CAS: one request, `Connection: Close`.
pub struct HealthProbe {
    cas: usize,
    sent: bool,
}

impl HealthProbe {
    pub fn new(cas: usize) -> HealthProbe {
        HealthProbe { cas, sent: false }
    }
}

impl Script for HealthProbe {
    fn next_turn(&mut self, now: Nanos, _rng: &mut Rng) -> Option<Turn> {
        if std::mem::replace(&mut self.sent, true) {
            return None;
        }
        let server = cas_name(self.cas);
        let request = Head::request("GET", "/owa/healthcheck.htm", "HTTP/1.1")
            .header(
                "Host",
                format_args!("{}.contoso.test", server.to_ascii_lowercase()),
            )
            .header("Connection", "Close")
            .finish(Body::None);
        let page = format!("200 OK<br/>{server}.contoso.test<br/>");
        let response: Vec<Piece> = iis_response(200, "OK", self.cas, now)
            .header("Content-Type", "text/html")
            .header("Connection", "close")
            .finish(Body::Bytes(page.into_bytes()));
        Some(Turn::exchange(
            0,
            vec![request],
            2 * MILLISECOND,
            vec![response],
        ))
    }

    fn close(&self, _rng: &mut Rng) -> Close {
        Close {
            after: 0,
            by_client: false,
            reset: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::outbox::pieces_text;
    use crate::generate::time::CAPTURE_START;

    #[test]
    fn ews_returns_the_cookie_it_was_given() {
        let mut rng = Rng::new(2);
        let mut connection = EwsConnection::new("user3".into(), 0, &mut rng);
        let turns: Vec<(String, String)> =
            std::iter::from_fn(|| connection.next_turn(CAPTURE_START, &mut rng))
                .map(|turn| (pieces_text(turn.client), pieces_text(turn.server)))
                .collect();
        assert!(turns.len() >= 2);
        let value = format!("{:016x}", fnv1a(b"user3"));
        assert!(turns[0]
            .1
            .contains(&format!("Set-Cookie: exchangecookie={value}; expires=")));
        assert!(!turns[0].0.contains("Cookie:"));
        for (request, response) in &turns[1..] {
            assert!(request.starts_with("POST /EWS/Exchange.asmx HTTP/1.1\r\n"));
            assert!(request.contains(&format!("Cookie: exchangecookie={value}\r\n")));
            assert!(request.contains(&format!(
                "Authorization: {}\r\n",
                basic_authorization("user3")
            )));
            assert!(!response.contains("Set-Cookie"));
        }
    }

    #[test]
    fn probe_makes_one_closing_request() {
        let mut rng = Rng::new(1);
        let mut probe = HealthProbe::new(1);
        let turn = probe.next_turn(CAPTURE_START, &mut rng).unwrap();
        assert_eq!(
            pieces_text(turn.client),
            "GET /owa/healthcheck.htm HTTP/1.1\r\nHost: cas02.contoso.test\r\nConnection: Close\r\n\r\n"
        );
        let response = pieces_text(turn.server);
        assert!(response.contains("X-FEServer: CAS02\r\nX-Powered-By"));
        assert!(response.ends_with(
            "Connection: close\r\nContent-Length: 34\r\n\r\n200 OK<br/>CAS02.contoso.test<br/>"
        ));
        assert!(probe.next_turn(CAPTURE_START, &mut rng).is_none());
        assert!(!probe.close(&mut rng).by_client);
    }
}
