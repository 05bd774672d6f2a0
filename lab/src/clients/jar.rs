//! A browser-like cookie jar for one host: keeps what `Set-Cookie` gives, keyed by name and
//! path, sends the cookies whose path prefixes the request's, and forgets a cookie whose
//! `Max-Age` is not positive or whose `expires` year is past (Exchange and HAProxy delete
//! cookies with a 1970 date; finer dates are not needed here).

use std::time::SystemTime;

use crate::clock;
use crate::http::Head;

#[derive(Clone, Debug, PartialEq, Eq)]
struct Cookie {
    name: String,
    value: String,
    path: String,
}

#[derive(Debug, Default)]
pub struct Jar {
    cookies: Vec<Cookie>,
}

impl Jar {
    /// Takes every `Set-Cookie` of a response.
    pub fn absorb(&mut self, head: &Head) {
        for set_cookie in head.all("Set-Cookie") {
            self.store(set_cookie);
        }
    }

    fn store(&mut self, set_cookie: &str) {
        let mut parts = set_cookie.split(';');
        let Some((name, value)) = parts.next().and_then(|pair| pair.split_once('=')) else {
            return;
        };
        let mut path = "/".to_owned();
        let mut expired = false;
        for attribute in parts {
            let (key, argument) = attribute.split_once('=').unwrap_or((attribute, ""));
            match key.trim().to_ascii_lowercase().as_str() {
                "path" => path = argument.trim().to_owned(),
                "max-age" => expired |= argument.trim().parse::<i64>().is_ok_and(|age| age <= 0),
                "expires" => expired |= expires_before_this_year(argument),
                _ => {}
            }
        }
        let name = name.trim();
        self.cookies
            .retain(|cookie| cookie.name != name || cookie.path != path);
        if !expired {
            self.cookies.push(Cookie {
                name: name.to_owned(),
                value: value.trim().to_owned(),
                path,
            });
        }
    }

    /// The `Cookie` header for a request target, if any cookie applies.
    pub fn header_for(&self, target: &str) -> Option<String> {
        let path = target
            .split('?')
            .next()
            .unwrap_or(target)
            .to_ascii_lowercase();
        let pairs: Vec<String> = self
            .cookies
            .iter()
            .filter(|cookie| path.starts_with(&cookie.path.to_ascii_lowercase()))
            .map(|cookie| format!("{}={}", cookie.name, cookie.value))
            .collect();
        (!pairs.is_empty()).then(|| pairs.join("; "))
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.cookies
            .iter()
            .find(|cookie| cookie.name == name)
            .map(|cookie| cookie.value.as_str())
    }
}

/// `Thu, 01-Jan-1970 00:00:00 GMT` or `Thu, 01 Jan 1970 …`: the four-digit field is the year.
fn expires_before_this_year(date: &str) -> bool {
    let year = date
        .split([' ', '-', ','])
        .find(|field| field.len() == 4 && field.bytes().all(|b| b.is_ascii_digit()));
    year.and_then(|year| year.parse::<i64>().ok())
        .is_some_and(|year| year < clock::year(SystemTime::now()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(set_cookies: &[&str]) -> Head {
        Head {
            start: "HTTP/1.1 200 OK".into(),
            headers: set_cookies
                .iter()
                .map(|c| ("Set-Cookie".to_owned(), (*c).to_owned()))
                .collect(),
        }
    }

    #[test]
    fn stores_replaces_and_sends_by_path() {
        let mut jar = Jar::default();
        jar.absorb(&response(&[
            "cadata=\"a==\"; HttpOnly; path=/",
            "msExchEcpCanary=k; path=/ecp",
            "SERVERID=CAS01; path=/",
        ]));
        jar.absorb(&response(&["SERVERID=CAS02; path=/"]));
        assert_eq!(
            jar.header_for("/owa/?ae=Folder"),
            Some("cadata=\"a==\"; SERVERID=CAS02".to_owned())
        );
        assert_eq!(
            jar.header_for("/ECP/x.svc?y=1"),
            Some("cadata=\"a==\"; msExchEcpCanary=k; SERVERID=CAS02".to_owned())
        );
        assert_eq!(jar.get("cadata"), Some("\"a==\""));
    }

    #[test]
    fn values_keep_spaces_and_equals_signs() {
        let mut jar = Jar::default();
        jar.absorb(&response(&[
            "tzid=W. Europe Standard Time; path=/",
            "logondata=acc=0&lgn=CONTOSO\\user1; path=/",
        ]));
        assert_eq!(
            jar.header_for("/"),
            Some("tzid=W. Europe Standard Time; logondata=acc=0&lgn=CONTOSO\\user1".to_owned())
        );
    }

    #[test]
    fn deletes_on_past_expiry_or_zero_max_age() {
        let mut jar = Jar::default();
        jar.absorb(&response(&[
            "cadata=x; path=/",
            "cookieTest=1; path=/",
            "keep=1; expires=Fri, 01-Jan-2038 00:00:00 GMT; path=/",
        ]));
        jar.absorb(&response(&[
            "cadata=; expires=Thu, 01-Jan-1970 00:00:00 GMT; path=/",
            "cookieTest=; Max-Age=0",
        ]));
        assert_eq!(jar.header_for("/owa/"), Some("keep=1".to_owned()));
        assert_eq!(jar.get("cadata"), None);
    }

    #[test]
    fn ignores_malformed_set_cookie() {
        let mut jar = Jar::default();
        jar.absorb(&response(&["novalue", ""]));
        assert_eq!(jar.header_for("/"), None);
    }
}
