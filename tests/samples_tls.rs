//! The TLS captures of samples/tls against their ground truth.
//!
//! For `openssl s_client` connections the truth is s_client's own `New|Reused, TLSvX, Cipher is Y`
//! line and the port the script bound; for `https-curl.pcap` it is the HTTPS server's log. How a
//! resumed connection resumed is fixed by the setup (samples/README.md): the report must link it
//! to the connection that created the session by the key that mechanism uses.

mod common;

use std::collections::BTreeMap;

use common::{analyze_captures, read_tsv, sample, Report, Row};

/// The certificate of every run (samples/README.md).
const CERT_SUBJECT: &str = "CN=cas01.contoso.test";

fn analyze_sample(tag: &str, relative: &str) -> Report {
    analyze_captures(tag, &[sample(relative)])
}

/// The report's name of a version s_client prints (`TLSv1.2` → `TLSv12`, as Zeek writes it).
fn version_name(openssl: &str) -> String {
    openssl.replace('.', "")
}

/// The IANA name of a cipher suite s_client names in OpenSSL's way.
fn iana_cipher(openssl: &str) -> &'static str {
    match openssl {
        "ECDHE-RSA-AES256-GCM-SHA384" => "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        "TLS_AES_256_GCM_SHA384" => "TLS_AES_256_GCM_SHA384",
        other => panic!("add the IANA name of OpenSSL's {other}"),
    }
}

fn yes_no(value: &str) -> bool {
    match value {
        "yes" => true,
        "no" => false,
        other => panic!("not yes/no: {other:?}"),
    }
}

/// What the truth says of one TLS connection.
struct Expected {
    client_port: String,
    server_port: String,
    /// Highest version the client offered.
    client_version: String,
    version: String,
    resumed: bool,
    /// `session-id`, `ticket` or `psk` when resumed.
    mechanism: Option<String>,
    sni: String,
    /// OpenSSL name; unknown for https-curl.
    cipher: Option<String>,
}

/// The report's rows of a capture keyed by client port, with every difference from the truth.
struct Check {
    rows: BTreeMap<String, Row>,
    diffs: Vec<String>,
}

impl Check {
    fn new(report: &Report, expected: &[Expected]) -> Check {
        let tls = report.table("tls");
        let mut check = Check { rows: tls.iter().map(|r| (r["client_port"].clone(), r.clone())).collect(), diffs: Vec::new() };
        if tls.len() != expected.len() {
            check.diffs.push(format!("{} TLS rows for {} connections in the truth", tls.len(), expected.len()));
        }
        for conn in report.table("connections") {
            if conn["service"] != "tls" {
                check.diffs.push(format!("port {}: service {:?}, not tls", conn["client_port"], conn["service"]));
            }
        }
        check
    }

    fn expect(&mut self, port: &str, column: &str, value: &str) {
        match self.rows.get(port).map(|r| r[column].as_str()) {
            Some(found) if found == value => {}
            found => self.diffs.push(format!("port {port}: {column}: expected {value:?}, found {found:?}")),
        }
    }

    fn value(&self, port: &str, column: &str) -> String {
        self.rows.get(port).map(|r| r[column].clone()).unwrap_or_default()
    }

    /// Each connection's own handshake: version, resumption, SNI, cipher, certificate.
    fn handshake(&mut self, e: &Expected) {
        let port = e.client_port.as_str();
        self.expect(port, "server_port", &e.server_port);
        self.expect(port, "client_version", &version_name(&e.client_version));
        self.expect(port, "version", &version_name(&e.version));
        self.expect(port, "resumed", if e.resumed { "true" } else { "false" });
        self.expect(port, "server_name", &e.sni);
        self.expect(port, "established", "true");
        let tls13 = e.version == "TLSv1.3";
        self.expect(port, "session_id_is_legacy_echo", if tls13 { "true" } else { "false" });
        if let Some(cipher) = &e.cipher {
            self.expect(port, "cipher", iana_cipher(cipher));
        }
        // Only a full TLS 1.2 handshake shows the certificate in clear.
        self.expect(port, "cert_subject", if tls13 || e.resumed { "" } else { CERT_SUBJECT });
    }

    /// A resumed connection carries the key of the session `creator` started.
    fn resumption(&mut self, e: &Expected, creator: &Expected) {
        let (port, from) = (e.client_port.as_str(), creator.client_port.as_str());
        match e.mechanism.as_deref() {
            Some("session-id") => {
                let id = self.value(from, "server_session_id");
                if id.is_empty() {
                    self.diffs.push(format!("port {from}: no server session id to resume"));
                }
                self.expect(port, "client_session_id", &id);
                self.expect(port, "server_session_id", &id);
            }
            Some("ticket") => {
                self.expect(from, "new_ticket_issued", "true");
                let ticket = self.value(from, "new_ticket_hash");
                if ticket.is_empty() {
                    self.diffs.push(format!("port {from}: no hash of the issued ticket"));
                }
                self.expect(port, "ticket_offered", "true");
                self.expect(port, "ticket_offered_hash", &ticket);
            }
            Some("psk") => {
                // `resumed` and the legacy echo of TLS 1.3 are checked with the handshake.
                self.expect(port, "psk_offered", "true");
            }
            other => self.diffs.push(format!("port {port}: resumed, unknown mechanism {other:?}")),
        }
    }

    /// Checks every connection, resumed ones against the latest earlier new session of their
    /// version (the one the client's session cache holds).
    fn all(&mut self, expected: &[Expected]) {
        for (i, e) in expected.iter().enumerate() {
            self.handshake(e);
            if !e.resumed {
                continue;
            }
            match expected[..i].iter().rev().find(|c| !c.resumed && c.version == e.version) {
                Some(creator) => self.resumption(e, creator),
                None => self.diffs.push(format!("port {}: resumed, but no earlier new session in the truth", e.client_port)),
            }
        }
    }

    fn assert_none(self) {
        assert!(self.diffs.is_empty(), "{} differences:\n{}", self.diffs.len(), self.diffs.join("\n"));
    }
}

/// The highest version the clients of an s_client capture offer (README: only the
/// tls12-resume-ticket clients offer more than the server picks: TLS 1.3 down to 1.0).
fn client_max_version<'a>(name: &str, version: &'a str) -> &'a str {
    if name == "tls12-resume-ticket" {
        "TLSv1.3"
    } else {
        version
    }
}

/// The truth of an s_client capture, in connection order.
fn s_client_truth(name: &str) -> Vec<Expected> {
    let mut rows = read_tsv(&sample(&format!("tls/{name}.truth.tsv")));
    rows.sort_by_key(|r| r["conn"].parse::<u32>().expect("conn number"));
    rows.iter()
        .map(|r| Expected {
            client_port: r["client_port"].clone(),
            server_port: r["server_port"].clone(),
            client_version: client_max_version(name, &r["version"]).to_string(),
            version: r["version"].clone(),
            resumed: yes_no(&r["resumed"]),
            mechanism: (r["mechanism"] != "-").then(|| r["mechanism"].clone()),
            sni: if r["sni"] == "-" { String::new() } else { r["sni"].clone() },
            cipher: Some(r["cipher"].clone()),
        })
        .collect()
}

fn check_s_client_capture(name: &str) {
    let expected = s_client_truth(name);
    assert!(!expected.is_empty(), "{name}: empty truth");
    let report = analyze_sample(name, &format!("tls/{name}.pcap"));
    let mut check = Check::new(&report, &expected);
    check.all(&expected);
    check.assert_none();
}

#[test]
fn tls12_session_id_resumption() {
    check_s_client_capture("tls12-resume-id");
}

#[test]
fn tls12_ticket_resumption() {
    check_s_client_capture("tls12-resume-ticket");
}

#[test]
fn tls13_psk_resumption() {
    check_s_client_capture("tls13-resume-psk");
}

#[test]
fn tls_on_a_nonstandard_port_without_sni() {
    check_s_client_capture("tls-nonstandard-port");
}

/// How https-curl's resumed connections resume (samples/README.md): TLS 1.3 by PSK; TLS 1.2 by
/// session id, curl sending no SessionTicket extension in TLS 1.2.
fn curl_mechanism(version: &str) -> &'static str {
    match version {
        "TLSv1.3" => "psk",
        "TLSv1.2" => "session-id",
        other => panic!("no resumption mechanism known for {other}"),
    }
}

#[test]
fn https_curl_matches_the_server_log() {
    // The server logs each request; a connection is its first request's line.
    let mut truth = read_tsv(&sample("tls/https-curl.truth.tsv"));
    truth.sort_by_key(|r| r["conn"].parse::<u32>().expect("conn number"));
    truth.dedup_by_key(|r| r["conn"].clone());
    let expected: Vec<Expected> = truth
        .iter()
        .map(|r| {
            let resumed = yes_no(&r["tls_resumed"]);
            Expected {
                client_port: r["client_port"].clone(),
                server_port: "8443".into(),
                // curl offers up to TLS 1.3, or up to 1.2 with --tls-max 1.2 (conns 6 and 7).
                client_version: r["tls_version"].clone(),
                version: r["tls_version"].clone(),
                resumed,
                mechanism: resumed.then(|| curl_mechanism(&r["tls_version"]).to_string()),
                sni: r["sni"].clone(),
                cipher: None,
            }
        })
        .collect();
    assert_eq!(expected.len(), 7, "README: seven connections");

    let report = analyze_sample("https-curl", "tls/https-curl.pcap");
    let mut check = Check::new(&report, &expected);
    check.all(&expected);
    for e in &expected {
        let offered = check.value(&e.client_port, "alpn_offered");
        if !offered.split(',').any(|p| p == "http/1.1") {
            check.diffs.push(format!("port {}: alpn_offered {offered:?} lacks http/1.1", e.client_port));
        }
        // The server's ALPN choice is in clear only in TLS 1.2.
        if e.version == "TLSv1.2" {
            check.expect(&e.client_port, "alpn", "http/1.1");
        }
    }
    check.assert_none();
    let transactions = report.table("transactions");
    assert!(transactions.is_empty(), "HTTP inside TLS cannot be read, yet {} transactions", transactions.len());
}
