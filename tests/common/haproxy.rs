//! The lab's HAProxy files: `haproxy.log` (the ground truth of which server took each request
//! or TCP connection) and `haproxy.cfg` (the servers' and VIPs' addresses). Formats are in
//! samples/lab/README.md.

use std::path::Path;

/// One request line of an HTTP scenario's log, or one connection line of `mode tcp`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLine {
    /// `%ci:%cp`: the client side's connection.
    pub client: String,
    /// `[%tr]` (HTTP) or `[%t]` (`mode tcp`): when the request or connection started, epoch
    /// milliseconds.
    pub millis: i64,
    /// `%s`: the server that took it (`<NOSRV>` if none).
    pub server: String,
    /// `%bi:%bp`: HAProxy's connection to the server (`-:-` if none).
    pub backend_conn: String,
    /// `%ST` (HTTP scenarios): -1 when no response was sent.
    pub status: Option<i32>,
    /// `%tsc` or `%ts`: termination state (and cookie flags).
    pub termination: String,
    /// The request line (HTTP scenarios).
    pub request: Option<String>,
    /// `mode tcp`: the TLS session ids offered and assigned (`-` for none).
    pub offered: Option<String>,
    pub assigned: Option<String>,
}

/// The request lines of a log (only lines starting with a digit are requests).
pub fn parse_log(text: &str) -> Vec<LogLine> {
    text.lines().filter(|l| l.starts_with(|c: char| c.is_ascii_digit())).filter_map(parse_line).collect()
}

pub fn read_log(path: &Path) -> Vec<LogLine> {
    parse_log(&std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
}

fn braced<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let start = line.find(&format!("{name}={{"))? + name.len() + 2;
    let end = line[start..].find('}')? + start;
    Some(&line[start..end])
}

/// `[22/Nov/2026:02:47:33.918]` as epoch milliseconds (HAProxy runs in UTC in the lab).
fn log_millis(field: &str) -> Option<i64> {
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let text = field.strip_prefix('[')?.strip_suffix(']')?;
    let (date, time) = text.split_once(':')?;
    let mut d = date.split('/');
    let day: i64 = d.next()?.parse().ok()?;
    let month_name = d.next()?;
    let month = MONTHS.iter().position(|m| *m == month_name)? as i64 + 1;
    let year: i64 = d.next()?.parse().ok()?;
    let mut t = time.split([':', '.']);
    let mut next = || t.next().and_then(|v| v.parse::<i64>().ok());
    let (hour, minute, second, millis) = (next()?, next()?, next()?, next()?);
    Some(epoch_millis(year, month, day, hour, minute, second, millis))
}

/// Milliseconds since the epoch of a UTC civil time (Howard Hinnant's days-from-civil).
pub fn epoch_millis(year: i64, month: i64, day: i64, hour: i64, minute: i64, second: i64, millis: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    ((days * 24 + hour) * 60 + minute) * 60_000 + second * 1000 + millis
}

fn parse_line(line: &str) -> Option<LogLine> {
    let fields: Vec<&str> = line.split(' ').collect();
    let client = fields.first()?.to_string();
    let millis = log_millis(fields.get(1)?)?;
    let server = fields.get(3)?.split_once('/')?.1.to_string();
    let backend_conn = fields.get(4)?.to_string();
    if let Some(unquoted) = line.strip_suffix('"') {
        // HTTP: fields 1–12 have no spaces; the request line is the last quoted string.
        let open = unquoted.rfind('"')?;
        Some(LogLine {
            client,
            millis,
            server,
            backend_conn,
            status: fields.get(6)?.parse().ok(),
            termination: fields.get(8)?.to_string(),
            request: Some(unquoted[open + 1..].to_string()),
            offered: None,
            assigned: None,
        })
    } else {
        Some(LogLine {
            client,
            millis,
            server,
            backend_conn,
            status: None,
            termination: fields.get(7)?.to_string(),
            request: None,
            offered: braced(line, "offered").map(str::to_string),
            assigned: braced(line, "assigned").map(str::to_string),
        })
    }
}

/// The servers (`name address:port`) and the frontends' addresses of a configuration.
pub struct Topology {
    pub servers: Vec<(String, String)>,
    pub vips: Vec<String>,
}

impl Topology {
    pub fn read(path: &Path) -> Topology {
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut servers = Vec::new();
        let mut vips = Vec::new();
        for line in text.lines().map(str::trim) {
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.as_slice() {
                ["server", name, address, ..] => servers.push((name.to_string(), address.to_string())),
                ["bind", address, ..] => vips.push(address.to_string()),
                _ => {}
            }
        }
        Topology { servers, vips }
    }

    pub fn address_of(&self, server: &str) -> Option<&str> {
        self.servers.iter().find(|(n, _)| n == server).map(|(_, a)| a.as_str())
    }

    /// A naming file (`--servers`) for this topology: every server named, every VIP marked.
    pub fn naming_file(&self, with_servers: bool) -> String {
        let mut out = String::new();
        if with_servers {
            for (name, address) in &self.servers {
                out.push_str(&format!("{address} {name}\n"));
            }
        }
        for vip in &self.vips {
            out.push_str(&format!("{vip} vip\n"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_and_tcp_lines() {
        let log = "127.0.2.1:57913 [22/Nov/2026:02:47:33.918] fe_exchange be_cas/CAS01 127.0.0.2:51016 0/0/0/0/0 302 1081 --VN 1/1/0/0/0 0/0 -/- {-} {Mozilla/5.0 (Windows NT 6.1; WOW64; Trident/7.0; rv:11.0) like Gecko} {CAS01} \"POST /owa/auth.owa HTTP/1.1\"\n\
Server be_cas/CAS02 is DOWN, reason: Layer4 connection problem\n\
127.0.1.71:38823 [22/Nov/2026:02:48:14.623] fe_exchange_tls be_cas_tls/CAS03 127.0.0.2:49420 1/0/6 279 -- 1/1/0/0/0 0/0 sni={mail.contoso.test} offered={901D} assigned={901D}\n";
        let lines = parse_log(log);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].client, "127.0.2.1:57913");
        assert_eq!(lines[0].millis, 1_795_315_653_918);
        assert_eq!((lines[0].server.as_str(), lines[0].backend_conn.as_str()), ("CAS01", "127.0.0.2:51016"));
        assert_eq!((lines[0].status, lines[0].termination.as_str()), (Some(302), "--VN"));
        assert_eq!(lines[0].request.as_deref(), Some("POST /owa/auth.owa HTTP/1.1"));
        assert_eq!((lines[1].server.as_str(), lines[1].offered.as_deref(), lines[1].assigned.as_deref()), ("CAS03", Some("901D"), Some("901D")));
    }
}
