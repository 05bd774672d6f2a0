//! A response of the stand-in CAS, serialized the way IIS 7.5 / Exchange 2010 frames it.

use std::time::SystemTime;

use crate::clock;

#[derive(Debug)]
pub struct Reply {
    pub code: u16,
    reason: &'static str,
    headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
    /// Free text for the CAS log (user, refused ticket's issuer…); never a credential.
    pub note: String,
    /// Close the connection after this reply whatever the client asked.
    pub close: bool,
}

impl Reply {
    pub fn new(code: u16, reason: &'static str) -> Reply {
        Reply {
            code,
            reason,
            headers: Vec::new(),
            body: Vec::new(),
            note: String::new(),
            close: false,
        }
    }

    pub fn ok() -> Reply {
        Reply::new(200, "OK")
    }

    pub fn redirect(location: &str) -> Reply {
        Reply::new(302, "Found").header("Location", location).body("text/html; charset=utf-8", format!("<html><head><title>Object moved</title></head><body><h2>Object moved to <a href=\"{location}\">here</a>.</h2></body></html>"))
    }

    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Reply {
        self.headers.push((name, value.into()));
        self
    }

    pub fn cookie(self, set_cookie: impl Into<String>) -> Reply {
        self.header("Set-Cookie", set_cookie)
    }

    pub fn body(mut self, content_type: &str, body: impl Into<Vec<u8>>) -> Reply {
        self.headers.push(("Content-Type", content_type.to_owned()));
        self.body = body.into();
        self
    }

    pub fn note(mut self, note: impl Into<String>) -> Reply {
        self.note = note.into();
        self
    }

    pub fn closing(mut self) -> Reply {
        self.close = true;
        self
    }

    /// The wire form. `connection` is the `Connection` header to send, if any.
    pub fn encode(&self, server: &str, connection: Option<&str>) -> Vec<u8> {
        let mut head = format!("HTTP/1.1 {} {}\r\n", self.code, self.reason);
        for (name, value) in &self.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("Server: Microsoft-IIS/7.5\r\nX-AspNet-Version: 2.0.50727\r\n");
        head.push_str(&format!(
            "X-FEServer: {server}\r\nX-Powered-By: ASP.NET\r\n"
        ));
        head.push_str(&format!(
            "Date: {}\r\nContent-Length: {}\r\n",
            clock::http_date(SystemTime::now()),
            self.body.len()
        ));
        if let Some(connection) = connection {
            head.push_str(&format!("Connection: {connection}\r\n"));
        }
        head.push_str("\r\n");
        let mut out = head.into_bytes();
        out.extend_from_slice(&self.body);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_status_headers_and_body() {
        let reply = Reply::ok()
            .cookie("a=1; path=/")
            .body("text/plain", "hi")
            .note("user=u");
        let text = String::from_utf8(reply.encode("CAS03", Some("close"))).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert_eq!(body, "hi");
        let lines: Vec<&str> = head.lines().collect();
        assert_eq!(
            lines[..3],
            [
                "HTTP/1.1 200 OK",
                "Set-Cookie: a=1; path=/",
                "Content-Type: text/plain"
            ]
        );
        assert!(lines.contains(&"X-FEServer: CAS03"));
        assert!(lines.contains(&"Content-Length: 2"));
        assert_eq!(lines.last(), Some(&"Connection: close"));
        assert!(lines
            .iter()
            .any(|line| line.starts_with("Date: ") && line.ends_with(" GMT")));
    }

    #[test]
    fn redirect_carries_location_and_html() {
        let reply = Reply::redirect("/owa/");
        assert_eq!(reply.code, 302);
        let text = String::from_utf8(reply.encode("CAS01", None)).unwrap();
        assert!(text.starts_with("HTTP/1.1 302 Found\r\nLocation: /owa/\r\n"));
        assert!(!text.contains("Connection:"));
    }
}
