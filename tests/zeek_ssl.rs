//! Conformance of the tls table with Zeek's ssl.log on the reference corpus.
//!
//! Every handshake Zeek logged must be in our table (found by its endpoints) with the same
//! version, cipher, server name, resumption and establishment, and, where the baseline has a
//! certificate chain, the server certificate's SHA-256 (the first of Zeek's `cert_chain_fps`).
//! A difference is only accepted when `KNOWN_DIFFERENCES` lists it with the reason, and a listed
//! difference that no longer occurs fails too, so that the list stays true.

mod common;

use common::{compare_with_zeek, zeek_value, Connections};

/// (Zeek test, field, why we differ); each one checked against the packets with tshark.
const KNOWN_DIFFERENCES: &[(&str, &str, &str)] = &[
    (
        "scripts.base.protocols.ssl.dtls",
        "handshake",
        "DTLS 1.0/1.2 over UDP: we analyse TCP only (the decode stage passes on TCP segments alone)",
    ),
    (
        "scripts.base.protocols.ssl.dtls-stun-dpd",
        "handshake",
        "DTLS 1.0 over UDP (WebRTC, after STUN): we analyse TCP only",
    ),
    (
        "scripts.base.protocols.ssl.fragment",
        "cert_sha256",
        "the server's Certificate message is 339,629 bytes (one certificate of 339,623 bytes), above the 64 KiB we \
         keep of a handshake message to bound memory: it is skipped with a tls_handshake_message_too_large anomaly, \
         so we have no fingerprint; Zeek reassembles it whole",
    ),
    (
        "scripts.base.protocols.ssl.tls13-experiment",
        "resumed",
        "TLS 1.3 (draft 0x7e01) full handshake: the ServerHello echoes the client's 32-byte legacy session id, as \
         TLS 1.3's compatibility mode requires, but carries no pre_shared_key (extensions 40 and 43 only) and the \
         client offered none: Zeek takes the echo for a resumption, we do not",
    ),
];

/// Zeek's column and ours for each field compared as is.
const FIELDS: &[(&str, &str)] = &[
    ("version", "version"),
    ("cipher", "cipher"),
    ("server_name", "server_name"),
    ("resumed", "resumed"),
    ("established", "established"),
];

#[test]
fn handshakes_agree_with_zeek_ssl_log() {
    compare_with_zeek("ssl.log", KNOWN_DIFFERENCES, |zeek, report, findings| {
        let connections = Connections::of(report);
        let ours = report.table("tls");
        let mut matched = Vec::new();
        for z in &zeek.rows {
            let mine = connections.find(z).and_then(|conn| ours.iter().find(|o| o["conn_id"] == conn["conn_id"]));
            let Some(mine) = mine else {
                let handshake = format!(
                    "{}:{} {}",
                    zeek_value(z, "id.orig_h"),
                    zeek_value(z, "id.orig_p"),
                    zeek_value(z, "version")
                );
                findings.differ("handshake", format!("only in Zeek: {handshake}"));
                continue;
            };
            findings.compared += 1;
            matched.push(&mine["conn_id"]);
            let what = format!("{}:{}", mine["client_ip"], mine["client_port"]);
            for (zeek_field, our_field) in FIELDS.iter().filter(|(zeek_field, _)| zeek.has(zeek_field)) {
                findings.check(zeek_field, zeek_value(z, zeek_field), &as_zeek_logs(&mine[*our_field]), &what);
            }
            let server_cert = zeek_value(z, "cert_chain_fps").split(',').next().unwrap_or("");
            if !server_cert.is_empty() {
                findings.check("cert_sha256", server_cert, &mine["cert_sha256"], &what);
            }
        }
        for o in ours.iter().filter(|o| !matched.contains(&&o["conn_id"])) {
            findings
                .differ("handshake", format!("only ours: {}:{} {}", o["client_ip"], o["client_port"], o["version"]));
        }
    });
}

/// Our value as Zeek writes it: booleans as `T`/`F`.
fn as_zeek_logs(ours: &str) -> String {
    match ours {
        "true" => "T".to_owned(),
        "false" => "F".to_owned(),
        other => other.to_owned(),
    }
}
