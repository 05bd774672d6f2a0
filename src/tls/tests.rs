//! The stage on real handshakes — Zeek's test traces, checked against Zeek's ssl.log, and OpenSSL
//! 3.0 sessions captured on loopback (provenance in testdata/README.md) — then cut, chunked,
//! damaged and gapped every way.

use std::io::Read;

use super::*;
use crate::reassembly::Direction;
use crate::test_rng::Rng;

const ZEEK_TLS10: &str = include_str!("testdata/zeek_tls10_basic.txt");
const ZEEK_TLS11: &str = include_str!("testdata/zeek_tls11.txt");
const ZEEK_TLS12: &str = include_str!("testdata/zeek_tls12.txt");
const ZEEK_TLS12_DHE: &str = include_str!("testdata/zeek_tls12_dhe.txt");
const ZEEK_TLS12_ECDHE: &str = include_str!("testdata/zeek_tls12_ecdhe.txt");
const ZEEK_TLS12_ECDSA: &str = include_str!("testdata/zeek_tls12_ecdsa.txt");
const ZEEK_CVE_2015_3194: &str = include_str!("testdata/zeek_cve_2015_3194.txt");
const ZEEK_ML_DSA_44: &str = include_str!("testdata/zeek_ml_dsa_44.txt");
const ZEEK_HANDSHAKE_FAILURE: &str = include_str!("testdata/zeek_tls12_handshake_failure.txt");
const ZEEK_TLS13_ECH: &str = include_str!("testdata/zeek_tls13_ech.txt");
const ZEEK_TLS13_DRAFT23: &str = include_str!("testdata/zeek_tls13_draft23.txt");
const ZEEK_TLS13_WOLFSSL: &str = include_str!("testdata/zeek_tls13_wolfssl.txt");
const ZEEK_TLS13_EXPERIMENT: &str = include_str!("testdata/zeek_tls13_experiment.txt");
/// 350 KB of certificate over 22 records, gzipped.
const ZEEK_FRAGMENT_GZ: &[u8] = include_bytes!("testdata/zeek_fragment.txt.gz");
const OPENSSL_TLS12_SESSID_FULL: &str = include_str!("testdata/openssl_tls12_sessid_full.txt");
const OPENSSL_TLS12_SESSID_RESUMED: &str = include_str!("testdata/openssl_tls12_sessid_resumed.txt");
const OPENSSL_TLS12_TICKET_FULL: &str = include_str!("testdata/openssl_tls12_ticket_full.txt");
const OPENSSL_TLS12_TICKET_RESUMED: &str = include_str!("testdata/openssl_tls12_ticket_resumed.txt");
const OPENSSL_TLS13_FULL: &str = include_str!("testdata/openssl_tls13_psk_full.txt");
const OPENSSL_TLS13_RESUMED: &str = include_str!("testdata/openssl_tls13_psk_resumed.txt");
const OPENSSL_TLS13_HRR: &str = include_str!("testdata/openssl_tls13_hrr.txt");

const ALL_TRACES: [&str; 20] = [
    ZEEK_TLS10,
    ZEEK_TLS11,
    ZEEK_TLS12,
    ZEEK_TLS12_DHE,
    ZEEK_TLS12_ECDHE,
    ZEEK_TLS12_ECDSA,
    ZEEK_CVE_2015_3194,
    ZEEK_ML_DSA_44,
    ZEEK_HANDSHAKE_FAILURE,
    ZEEK_TLS13_ECH,
    ZEEK_TLS13_DRAFT23,
    ZEEK_TLS13_WOLFSSL,
    ZEEK_TLS13_EXPERIMENT,
    OPENSSL_TLS12_SESSID_FULL,
    OPENSSL_TLS12_SESSID_RESUMED,
    OPENSSL_TLS12_TICKET_FULL,
    OPENSSL_TLS12_TICKET_RESUMED,
    OPENSSL_TLS13_FULL,
    OPENSSL_TLS13_RESUMED,
    OPENSSL_TLS13_HRR,
];

/// One TCP segment's payload, in capture order.
#[derive(Clone)]
struct Segment {
    dir: Direction,
    bytes: Vec<u8>,
}

/// Lines `C <hex>` (client to server) or `S <hex>` (server to client).
fn segments(text: &str) -> Vec<Segment> {
    text.lines()
        .map(|line| {
            let (side, hex) = line.split_once(' ').expect("side and hex");
            let dir = match side {
                "C" => Direction::ToServer,
                "S" => Direction::ToClient,
                other => panic!("unknown side {other}"),
            };
            Segment { dir, bytes: unhex(hex) }
        })
        .collect()
}

fn unhex(hex: &str) -> Vec<u8> {
    (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex")).collect()
}

fn fragment_trace() -> Vec<Segment> {
    let mut text = String::new();
    flate2::read::GzDecoder::new(ZEEK_FRAGMENT_GZ).read_to_string(&mut text).expect("gzip");
    segments(&text)
}

#[derive(Debug, PartialEq)]
struct Outcome {
    record: TlsRecord,
    anomalies: Vec<Anomaly>,
}

impl Outcome {
    fn kinds(&self) -> Vec<&'static str> {
        self.anomalies.iter().map(|a| a.kind).collect()
    }
}

/// Feeds the first `len` bytes of the capture-order stream, each segment in pieces of at most
/// `piece` bytes.
fn analyse_prefix_in_pieces(segments: &[Segment], len: usize, piece: usize) -> Outcome {
    let mut connection = TlsConnection::new();
    let mut anomalies = Vec::new();
    let mut left = len;
    for (i, segment) in segments.iter().enumerate() {
        let ts = Timestamp::from_secs_nanos(1_700_000_000, i as i64);
        let bytes = &segment.bytes[..left.min(segment.bytes.len())];
        left -= bytes.len();
        for piece in bytes.chunks(piece) {
            connection.data(segment.dir, ts, piece, &mut anomalies);
        }
    }
    Outcome { record: connection.finish(), anomalies }
}

fn analyse_in_pieces(segments: &[Segment], piece: usize) -> Outcome {
    analyse_prefix_in_pieces(segments, usize::MAX, piece)
}

fn analyse(segments: &[Segment]) -> Outcome {
    analyse_in_pieces(segments, usize::MAX)
}

fn analyse_text(text: &str) -> Outcome {
    analyse(&segments(text))
}

fn some(text: &str) -> Option<String> {
    Some(text.to_owned())
}

/// A line of Zeek's ssl.log for a trace, and the first fingerprint of its `cert_chain_fps`.
struct ZeekSslLog {
    trace: &'static str,
    version: Option<&'static str>,
    cipher: Option<&'static str>,
    server_name: Option<&'static str>,
    resumed: bool,
    established: bool,
    cert_sha256: Option<&'static str>,
}

#[test]
fn agrees_with_zeek_ssl_log() {
    let lines = [
        ZeekSslLog {
            trace: ZEEK_TLS10,
            version: Some("TLSv10"),
            cipher: Some("TLS_ECDHE_RSA_WITH_RC4_128_SHA"),
            server_name: Some("ssl.gstatic.com"),
            resumed: false,
            established: true,
            cert_sha256: Some("a580247a25324adf4add5af648de4ac5798030dfd622f26a5f2280d7528ae244"),
        },
        ZeekSslLog {
            trace: ZEEK_TLS11,
            version: Some("TLSv11"),
            cipher: Some("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"),
            server_name: None,
            resumed: false,
            established: true,
            cert_sha256: Some("22a920a5ec03c819b569ed0fa8b7df258e3e7ea11fdd15b83b6fa45f3e863036"),
        },
        ZeekSslLog {
            trace: ZEEK_TLS12,
            version: Some("TLSv12"),
            cipher: Some("TLS_RSA_WITH_RC4_128_MD5"),
            server_name: None,
            resumed: false,
            established: true,
            cert_sha256: Some("95cb443934beda97627688546191ab1d3989a835592cebdd2434f9ad41324ce1"),
        },
        ZeekSslLog {
            trace: ZEEK_TLS12_DHE,
            version: Some("TLSv12"),
            cipher: Some("TLS_DHE_RSA_WITH_CAMELLIA_256_CBC_SHA"),
            server_name: None,
            resumed: false,
            established: true,
            cert_sha256: Some("b706ad178447821cc60aca1e0cd59697333a6178fd1c73f839fbdfb5b76bc507"),
        },
        ZeekSslLog {
            trace: ZEEK_TLS12_ECDHE,
            version: Some("TLSv12"),
            cipher: Some("TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA"),
            server_name: None,
            resumed: false,
            established: true,
            cert_sha256: Some("a97a22b691caf62c1623d14abf8a31ac915f14d87f77d8a37c47eb4785b484ad"),
        },
        ZeekSslLog {
            trace: ZEEK_TLS12_ECDSA,
            version: Some("TLSv12"),
            cipher: Some("TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"),
            server_name: None,
            resumed: false,
            established: true,
            cert_sha256: Some("11db6d4f6e4df14cec874b9d4a306c64c282dacbd479788ee0510b2c99382dc4"),
        },
        ZeekSslLog {
            trace: ZEEK_CVE_2015_3194,
            version: Some("TLSv12"),
            cipher: Some("TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"),
            server_name: None,
            resumed: false,
            established: true,
            cert_sha256: Some("81a29a60dfcea4e4e9e80dd277c1384b002db8601afc57bca2c2ef1377fd9872"),
        },
        ZeekSslLog {
            trace: ZEEK_ML_DSA_44,
            version: Some("TLSv12"),
            cipher: Some("TLS_RSA_WITH_AES_128_CBC_SHA"),
            server_name: None,
            resumed: false,
            established: false,
            cert_sha256: Some("fd95785a038018dccb84cd816602920a1e010d8acd9ce63407aa68440f595758"),
        },
        ZeekSslLog {
            trace: ZEEK_HANDSHAKE_FAILURE,
            version: None,
            cipher: None,
            server_name: None,
            resumed: false,
            established: false,
            cert_sha256: None,
        },
        ZeekSslLog {
            trace: ZEEK_TLS13_ECH,
            version: Some("TLSv13"),
            cipher: Some("TLS_AES_128_GCM_SHA256"),
            server_name: Some("cloudflare-ech.com"),
            resumed: false,
            established: true,
            cert_sha256: None,
        },
        ZeekSslLog {
            trace: ZEEK_TLS13_DRAFT23,
            version: Some("TLSv13-draft23"),
            cipher: Some("TLS_AES_128_GCM_SHA256"),
            server_name: Some("tls13.crypto.mozilla.org"),
            resumed: false,
            established: true,
            cert_sha256: None,
        },
        ZeekSslLog {
            trace: ZEEK_TLS13_WOLFSSL,
            version: Some("TLSv13"),
            cipher: Some("TLS_AES_256_GCM_SHA384"),
            server_name: None,
            resumed: false,
            established: true,
            cert_sha256: None,
        },
    ];
    for line in lines {
        let outcome = analyse_text(line.trace);
        let record = &outcome.record;
        let got = (record.version.as_deref(), record.cipher.as_deref(), record.server_name.as_deref());
        assert_eq!(got, (line.version, line.cipher, line.server_name));
        assert_eq!((record.resumed, record.established), (line.resumed, line.established), "{:?}", line.version);
        assert_eq!(record.cert_sha256.as_deref(), line.cert_sha256, "{:?}", line.version);
        assert_eq!(outcome.anomalies, [], "{:?}", line.version);
    }
}

#[test]
fn tls10_full_handshake() {
    let expected = TlsRecord {
        client_version: some("TLSv10"),
        version: some("TLSv10"),
        cipher: some("TLS_ECDHE_RSA_WITH_RC4_128_SHA"),
        server_name: some("ssl.gstatic.com"),
        new_ticket_issued: true,
        new_ticket_hash: some("a000a3501fed8e1cb70caacc3543d52f"),
        established: true,
        // Its common name is a T61String.
        cert_subject: some("CN=*.gstatic.com,O=Google Inc,L=Mountain View,ST=California,C=US"),
        cert_sha256: some("a580247a25324adf4add5af648de4ac5798030dfd622f26a5f2280d7528ae244"),
        client_random: some("4f9ab2d8c93710cf789ef7aa0ed1dd9b8cd5cbc554a9dafec9933199d5424fd7"),
        client_app_bytes: 591,
        server_app_bytes: 16057,
        ..TlsRecord::default()
    };
    assert_eq!(analyse_text(ZEEK_TLS10), Outcome { record: expected, anomalies: vec![] });
}

#[test]
fn certificate_subject_in_rfc4514_form() {
    let record = analyse_text(ZEEK_TLS12).record;
    assert_eq!(
        record.cert_subject.as_deref(),
        Some(
            "CN=*.taleo.net,OU=Comodo PremiumSSL Wildcard,OU=Web,O=Taleo Inc.,streetAddress=4140 Dublin Boulevard,\
             streetAddress=Suite 400,L=Dublin,ST=CA,postalCode=94568,C=US"
        )
    );
    let escaped = analyse_text(OPENSSL_TLS12_TICKET_FULL).record;
    assert_eq!(escaped.cert_subject.as_deref(), Some("CN=mail.contoso.test,O=Contoso\\, Ltd,C=US"));
}

#[test]
fn tls12_full_handshake_then_session_id_resumption() {
    let session_id = "f01f64d4bd87291504614d6cd93239b0c813e795e83cbef1afb354c977c96117";
    let full = TlsRecord {
        client_version: some("TLSv12"),
        version: some("TLSv12"),
        cipher: some("TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"),
        server_name: some("mail.contoso.test"),
        alpn_offered: some("h2,http/1.1"),
        alpn: some("http/1.1"),
        server_session_id: some(session_id),
        established: true,
        cert_subject: some("CN=mail.contoso.test,O=Contoso\\, Ltd,C=US"),
        cert_sha256: some("5d9942f23437563bf73bc5e345ff178bdf3b367d2350e61963ffea0d26dd6cda"),
        client_random: some("c1fae66b675ac0dba880e04de62ee685ce5b5f03744d97cc9fad28b15bbbd77d"),
        client_app_bytes: 42,
        server_app_bytes: 5062,
        ..TlsRecord::default()
    };
    assert_eq!(analyse_text(OPENSSL_TLS12_SESSID_FULL), Outcome { record: full.clone(), anomalies: vec![] });
    let resumed = TlsRecord {
        client_session_id: some(session_id),
        resumed: true,
        cert_subject: None,
        cert_sha256: None,
        client_random: some("0ea0c45765c0978dc937473c6cd2a272bee853b036ef1723f3eb5e8de739151f"),
        server_app_bytes: 3612,
        ..full
    };
    assert_eq!(analyse_text(OPENSSL_TLS12_SESSID_RESUMED), Outcome { record: resumed, anomalies: vec![] });
}

#[test]
fn tls12_ticket_issued_then_offered_links_the_connections() {
    let ticket_hash = "5147e817342c488b7f64610201a0080c";
    let full = TlsRecord {
        client_version: some("TLSv12"),
        version: some("TLSv12"),
        cipher: some("TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"),
        server_name: some("mail.contoso.test"),
        new_ticket_issued: true,
        new_ticket_hash: some(ticket_hash),
        established: true,
        cert_subject: some("CN=mail.contoso.test,O=Contoso\\, Ltd,C=US"),
        cert_sha256: some("5d9942f23437563bf73bc5e345ff178bdf3b367d2350e61963ffea0d26dd6cda"),
        client_random: some("af8b2d1b6dff50615b2eb357dc55fffeba227b7cec62909f1edac4aaf9ebaac8"),
        client_app_bytes: 42,
        server_app_bytes: 4972,
        ..TlsRecord::default()
    };
    assert_eq!(analyse_text(OPENSSL_TLS12_TICKET_FULL), Outcome { record: full.clone(), anomalies: vec![] });
    // OpenSSL names a ticket session by the ticket's SHA-256.
    let session_id = "5147e817342c488b7f64610201a0080c3694e9ebdb2dbf5666d4613c5965df52";
    let resumed = TlsRecord {
        client_session_id: some(session_id),
        server_session_id: some(session_id),
        ticket_offered: true,
        ticket_offered_hash: some(ticket_hash),
        resumed: true,
        new_ticket_issued: false,
        new_ticket_hash: None,
        cert_subject: None,
        cert_sha256: None,
        client_random: some("527e6022863b47242f85c874098bc8303e87bc3b481dd51319674b9c4bee2a54"),
        server_app_bytes: 3586,
        ..full
    };
    assert_eq!(analyse_text(OPENSSL_TLS12_TICKET_RESUMED), Outcome { record: resumed, anomalies: vec![] });
}

/// Zeros the client's session id in the ClientHello: resumption can then only be seen from the
/// abbreviated handshake (as with a ticket offered under an empty session id).
fn without_client_session_id(mut trace: Vec<Segment>) -> Vec<Segment> {
    let hello = &mut trace[0].bytes;
    // Record header 5, handshake header 4, version 2, random 32, then the session id length.
    assert_eq!(hello[43], 32);
    hello[44..76].fill(0);
    trace
}

#[test]
fn abbreviated_handshake_is_a_resumption() {
    let outcome = analyse(&without_client_session_id(segments(OPENSSL_TLS12_TICKET_RESUMED)));
    assert_eq!(outcome.record.client_session_id.as_deref(), Some(&*"0".repeat(64)));
    assert!(outcome.record.resumed && outcome.record.ticket_offered);
    assert_eq!(outcome.anomalies, []);
}

#[test]
fn abbreviated_handshake_is_not_trusted_after_a_gap() {
    let trace = without_client_session_id(segments(OPENSSL_TLS12_TICKET_RESUMED));
    // The server's first segment holds ServerHello, ChangeCipherSpec and Finished: lose the end
    // of the ServerHello record.
    let server_flight = &trace[1];
    assert_eq!(server_flight.dir, Direction::ToClient);
    let mut connection = TlsConnection::new();
    let mut anomalies = Vec::new();
    let ts = Timestamp::default();
    connection.data(Direction::ToServer, ts, &trace[0].bytes, &mut anomalies);
    connection.data(Direction::ToClient, ts, &server_flight.bytes[..20], &mut anomalies);
    connection.gap(Direction::ToClient, ts, 10, &mut anomalies);
    connection.data(Direction::ToClient, ts, &server_flight.bytes[30..], &mut anomalies);
    for segment in &trace[2..] {
        connection.data(segment.dir, ts, &segment.bytes, &mut anomalies);
    }
    let record = connection.finish();
    assert!(!record.resumed);
    assert_eq!(record.version, None, "the ServerHello was cut");
    let kinds: Vec<_> = anomalies.iter().map(|a| a.kind).collect();
    assert_eq!(kinds, ["tls_gap_in_record"]);
}

#[test]
fn tls13_full_handshake_then_psk_resumption() {
    let full = TlsRecord {
        client_version: some("TLSv13"),
        version: some("TLSv13"),
        cipher: some("TLS_AES_256_GCM_SHA384"),
        server_name: some("mail.contoso.test"),
        alpn_offered: some("h2,http/1.1"),
        client_session_id: some("58a5f33af4582bf8e37cc9d0463826aaf0b09d2a935efa76ff6b08e4f6ecabf3"),
        server_session_id: some("58a5f33af4582bf8e37cc9d0463826aaf0b09d2a935efa76ff6b08e4f6ecabf3"),
        session_id_is_legacy_echo: true,
        established: true,
        client_random: some("d6a3fb390e591c1a8cb0e2e64f93336917062f3f23aad2e7092aa5935fab80a6"),
        client_app_bytes: 121,
        server_app_bytes: 6215,
        ..TlsRecord::default()
    };
    assert_eq!(analyse_text(OPENSSL_TLS13_FULL), Outcome { record: full.clone(), anomalies: vec![] });
    let resumed = TlsRecord {
        client_session_id: some("452001f8d2ddeb28e97b954e42239afc734a9e88a7ac08113860073554b4cb54"),
        server_session_id: some("452001f8d2ddeb28e97b954e42239afc734a9e88a7ac08113860073554b4cb54"),
        psk_offered: true,
        resumed: true,
        client_random: some("a81906c3dc6fc180eac21a189b807b70b770c7a29d3e960ee72898dc2729c446"),
        client_app_bytes: 123,
        server_app_bytes: 4345,
        ..full
    };
    assert_eq!(analyse_text(OPENSSL_TLS13_RESUMED), Outcome { record: resumed, anomalies: vec![] });
}

#[test]
fn tls13_echoed_session_id_is_no_resumption() {
    // Zeek's ssl.log says resumed=T here, from the echoed legacy session id; there was no PSK.
    let record = analyse_text(ZEEK_TLS13_EXPERIMENT).record;
    assert_eq!(record.version.as_deref(), Some("unknown-32257"));
    assert_eq!(record.cipher.as_deref(), Some("TLS_AES_128_GCM_SHA256"));
    assert_eq!(record.server_name.as_deref(), Some("tls.ctf.network"));
    assert_eq!(record.client_session_id, record.server_session_id);
    assert!(record.session_id_is_legacy_echo && !record.psk_offered && !record.resumed && record.established);
}

#[test]
fn tls13_hello_retry_request_is_no_renegotiation() {
    let record = analyse_text(OPENSSL_TLS13_HRR).record;
    let expected = TlsRecord {
        client_version: some("TLSv13"),
        version: some("TLSv13"),
        cipher: some("TLS_AES_256_GCM_SHA384"),
        server_name: some("mail.contoso.test"),
        client_session_id: some("c5eadbebf5e6d9fbcba8ac7d8b1b4c35ec399796cf3ea43afba1a08a255967c5"),
        server_session_id: some("c5eadbebf5e6d9fbcba8ac7d8b1b4c35ec399796cf3ea43afba1a08a255967c5"),
        session_id_is_legacy_echo: true,
        established: true,
        client_random: some("94057a36d359fc0b8acb1d29c138945380c00268ecf5e65a36456fb72027779f"),
        client_app_bytes: 123,
        server_app_bytes: 6010,
        ..TlsRecord::default()
    };
    assert_eq!(record, expected);
}

#[test]
fn handshake_failure_alert_in_clear() {
    let outcome = analyse_text(ZEEK_HANDSHAKE_FAILURE);
    let expected = TlsRecord {
        client_version: some("TLSv12"),
        alerts: some("fatal:handshake_failure"),
        client_random: some("aaa3b6e3259f9c61ee29dde42820a73799972d6bf61ac2ea385a92c8ec5dae2f"),
        ..TlsRecord::default()
    };
    assert_eq!(outcome, Outcome { record: expected, anomalies: vec![] });
}

#[test]
fn fragmented_handshake_with_oversized_certificate() {
    // Zeek: TLSv12, TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384, SNI 104.236.167.107, not established.
    // Its one certificate is 350 KB, beyond what the stage keeps: skipped, and the
    // ServerKeyExchange and ServerHelloDone after it still read.
    let outcome = analyse(&fragment_trace());
    let record = &outcome.record;
    assert_eq!(record.version.as_deref(), Some("TLSv12"));
    assert_eq!(record.cipher.as_deref(), Some("TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384"));
    assert_eq!(record.server_name.as_deref(), Some("104.236.167.107"));
    assert!(!record.resumed && !record.established);
    assert_eq!((record.cert_subject.as_deref(), record.cert_sha256.as_deref()), (None, None));
    assert_eq!(outcome.kinds(), ["tls_handshake_message_too_large"]);
    assert_eq!(outcome.anomalies[0].detail, "Certificate of 339629 bytes");
}

#[test]
fn same_outcome_whatever_the_chunking() {
    let mut traces: Vec<Vec<Segment>> = ALL_TRACES.iter().map(|t| segments(t)).collect();
    traces.push(fragment_trace());
    for trace in &traces {
        let whole = analyse(trace);
        for piece in [1, 2, 3, 5, 7, 64, 1000] {
            assert_eq!(analyse_in_pieces(trace, piece), whole, "pieces of {piece}");
        }
    }
}

/// What a cut capture reports is what the whole one reports, as far as it goes: every value
/// found is the final one, every flag raised stays raised, counters only grow.
fn assert_part_of(part: &TlsRecord, whole: &TlsRecord, context: &str) {
    let texts = |r: &TlsRecord| {
        [
            r.client_version.clone(),
            r.version.clone(),
            r.cipher.clone(),
            r.server_name.clone(),
            r.alpn_offered.clone(),
            r.alpn.clone(),
            r.client_session_id.clone(),
            r.server_session_id.clone(),
            r.ticket_offered_hash.clone(),
            r.new_ticket_hash.clone(),
            r.cert_subject.clone(),
            r.cert_sha256.clone(),
            r.client_random.clone(),
        ]
    };
    for (found, last) in texts(part).into_iter().zip(texts(whole)) {
        assert!(found.is_none() || found == last, "{context}: {found:?} then {last:?}");
    }
    let flags = |r: &TlsRecord| {
        [
            r.session_id_is_legacy_echo,
            r.ticket_offered,
            r.psk_offered,
            r.resumed,
            r.new_ticket_issued,
            r.renegotiation,
            r.established,
        ]
    };
    for (found, last) in flags(part).into_iter().zip(flags(whole)) {
        assert!(!found || last, "{context}: a flag went down");
    }
    assert!(part.client_app_bytes <= whole.client_app_bytes && part.server_app_bytes <= whole.server_app_bytes, "{context}");
    assert!(whole.alerts.as_deref().unwrap_or_default().starts_with(part.alerts.as_deref().unwrap_or_default()), "{context}");
}

#[test]
fn every_truncation_of_real_handshakes() {
    let traces = [ZEEK_TLS10, ZEEK_HANDSHAKE_FAILURE, OPENSSL_TLS12_TICKET_FULL, OPENSSL_TLS12_SESSID_RESUMED, OPENSSL_TLS13_RESUMED];
    for text in traces {
        let trace = segments(text);
        let hello_len = trace[0].bytes.len();
        let total: usize = trace.iter().map(|s| s.bytes.len()).sum();
        // Every cut up to the first segment of application data, then a sample of the rest.
        let handshake_len: usize = trace.iter().take_while(|s| s.bytes[0] != 0x17).map(|s| s.bytes.len()).sum();
        let whole = analyse(&trace);
        for len in (0..handshake_len).chain((handshake_len..total).step_by(13)) {
            let outcome = analyse_prefix_in_pieces(&trace, len, usize::MAX);
            let context = format!("cut at {len} of {total}");
            assert_part_of(&outcome.record, &whole.record, &context);
            assert_eq!(outcome.record.client_random.is_some(), len >= hello_len, "{context}");
            assert_eq!(outcome.anomalies, [], "{context}: a cut stream is no malformed one");
        }
    }
}

#[test]
fn random_damage_never_panics() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for text in ALL_TRACES {
        let trace = segments(text);
        for _ in 0..150 {
            let mut damaged = trace.clone();
            for _ in 0..1 + rng.below(8) {
                let segment = rng.below(damaged.len());
                let bytes = &mut damaged[segment].bytes;
                if !bytes.is_empty() {
                    let at = rng.below(bytes.len());
                    bytes[at] ^= 1 << rng.below(8);
                }
            }
            let outcome = analyse_in_pieces(&damaged, 1 + rng.below(300));
            assert!(outcome.kinds().iter().all(|k| k.starts_with("tls_")));
        }
    }
}

#[test]
fn random_gaps_never_panic() {
    let mut rng = Rng(0x0123_4567_89ab_cdef);
    for text in ALL_TRACES {
        let trace = segments(text);
        for _ in 0..50 {
            let mut connection = TlsConnection::new();
            let mut anomalies = Vec::new();
            for segment in &trace {
                if rng.below(4) == 0 {
                    let missing = rng.below(segment.bytes.len() + 1);
                    connection.gap(segment.dir, Timestamp::default(), missing as u64, &mut anomalies);
                    connection.data(segment.dir, Timestamp::default(), &segment.bytes[missing..], &mut anomalies);
                } else {
                    connection.data(segment.dir, Timestamp::default(), &segment.bytes, &mut anomalies);
                }
            }
            let _ = connection.finish();
            assert!(anomalies.iter().all(|a| a.kind.starts_with("tls_")));
        }
    }
}

#[test]
fn gap_inside_application_data_keeps_counting() {
    let trace = segments(ZEEK_TLS10);
    let whole = analyse(&trace).record;
    // A server segment that starts an application_data record longer than 150 bytes.
    let index = trace
        .iter()
        .position(|s| s.dir == Direction::ToClient && s.bytes[0] == 0x17 && u16::from_be_bytes([s.bytes[3], s.bytes[4]]) > 150)
        .expect("a server segment of application data");
    let mut connection = TlsConnection::new();
    let mut anomalies = Vec::new();
    let ts = Timestamp::default();
    for (i, s) in trace.iter().enumerate() {
        if i == index {
            connection.data(s.dir, ts, &s.bytes[..100], &mut anomalies);
            connection.gap(s.dir, ts, 50, &mut anomalies);
            connection.data(s.dir, ts, &s.bytes[150..], &mut anomalies);
        } else {
            connection.data(s.dir, ts, &s.bytes, &mut anomalies);
        }
    }
    let record = connection.finish();
    assert_eq!(record, TlsRecord { server_app_bytes: whole.server_app_bytes - 50, ..whole });
    assert_eq!(anomalies, []);
}

#[test]
fn gap_across_records_loses_the_direction() {
    let trace = segments(OPENSSL_TLS12_TICKET_FULL);
    let mut connection = TlsConnection::new();
    let mut anomalies = Vec::new();
    let ts = Timestamp::default();
    connection.data(Direction::ToServer, ts, &trace[0].bytes, &mut anomalies);
    // Everything the server sent is missing: its records cannot be found again.
    connection.gap(Direction::ToClient, ts, trace[1].bytes.len() as u64 + 3, &mut anomalies);
    for segment in &trace[2..] {
        connection.data(segment.dir, ts, &segment.bytes, &mut anomalies);
    }
    let record = connection.finish();
    assert_eq!((record.version, record.server_app_bytes, record.established), (None, 0, false));
    assert_eq!(record.client_random.as_deref(), Some("af8b2d1b6dff50615b2eb357dc55fffeba227b7cec62909f1edac4aaf9ebaac8"));
    assert_eq!(record.client_app_bytes, 42, "the client's side is still framed");
    let kinds: Vec<_> = anomalies.iter().map(|a| a.kind).collect();
    assert_eq!(kinds, ["tls_lost_sync"]);
}

fn sslv2_record(body: &[u8]) -> Vec<u8> {
    let len = u16::try_from(body.len()).expect("short body") | 0x8000;
    [&len.to_be_bytes()[..], body].concat()
}

#[test]
fn sslv2_compatible_client_hello_then_tls_server() {
    let client_hello = sslv2_record(&sslv2::test_client_hello_body());
    assert!(looks_like_client_hello(&client_hello));
    let mut trace = vec![Segment { dir: Direction::ToServer, bytes: client_hello }];
    trace.extend(segments(ZEEK_TLS10).into_iter().skip(1).take_while(|s| s.dir == Direction::ToClient));
    let outcome = analyse(&trace);
    let record = outcome.record;
    assert_eq!(record.client_version.as_deref(), Some("TLSv10"));
    assert_eq!(record.client_random.as_deref(), Some("101112131415161718191a1b1c1d1e1f"));
    assert_eq!(record.client_session_id, None);
    assert_eq!(record.version.as_deref(), Some("TLSv10"));
    assert_eq!(record.cipher.as_deref(), Some("TLS_ECDHE_RSA_WITH_RC4_128_SHA"));
    assert_eq!(outcome.anomalies, []);
}

#[test]
fn sslv2_server_ends_the_analysis() {
    let mut connection = TlsConnection::new();
    let mut anomalies = Vec::new();
    let ts = Timestamp::default();
    connection.data(Direction::ToServer, ts, &sslv2_record(&sslv2::test_client_hello_body()), &mut anomalies);
    connection.data(Direction::ToClient, ts, &sslv2_record(&[4, 0, 1, 0, 2, 0, 0, 0, 0, 0, 0]), &mut anomalies);
    // CLIENT-MASTER-KEY, in SSLv2 records the stage does not frame.
    connection.data(Direction::ToServer, ts, &sslv2_record(&[2, 1, 0, 0x80, 0, 0]), &mut anomalies);
    let record = connection.finish();
    assert_eq!((record.client_version.as_deref(), record.version.as_deref()), (Some("TLSv10"), Some("SSLv2")));
    assert_eq!(anomalies, []);
}

#[test]
fn sslv2_junk_is_noted() {
    for (dir, body) in [(Direction::ToServer, vec![1, 3, 1, 0, 5]), (Direction::ToClient, vec![7, 7, 7])] {
        let mut connection = TlsConnection::new();
        let mut anomalies = Vec::new();
        connection.data(dir, Timestamp::default(), &sslv2_record(&body), &mut anomalies);
        assert_eq!(connection.finish(), TlsRecord::default());
        let kinds: Vec<_> = anomalies.iter().map(|a| a.kind).collect();
        assert_eq!(kinds, ["tls_malformed_sslv2"]);
    }
}

#[test]
fn second_client_hello_in_clear_is_renegotiation() {
    let hello = segments(ZEEK_HANDSHAKE_FAILURE).remove(0);
    let outcome = analyse(&[hello.clone(), hello]);
    assert!(outcome.record.renegotiation);
    assert_eq!(outcome.anomalies, []);
}

/// A minimal TLS 1.2 ClientHello record with these extensions.
fn client_hello_with_extensions(extensions: &[u8]) -> Vec<u8> {
    let mut body = vec![3, 3];
    body.extend([0x5a; 32]);
    body.extend([0, 0, 2, 0x00, 0x2f, 1, 0]);
    body.extend_from_slice(&(extensions.len() as u16).to_be_bytes());
    body.extend_from_slice(extensions);
    let len = (body.len() as u32).to_be_bytes();
    let mut message = vec![1, len[1], len[2], len[3]];
    message.extend(body);
    let mut record = vec![0x16, 3, 1];
    record.extend_from_slice(&(message.len() as u16).to_be_bytes());
    record.extend(message);
    record
}

#[test]
fn renegotiation_info_in_client_hello_is_renegotiation() {
    let verify_data = [0xff01u16.to_be_bytes().as_slice(), &[0, 13, 12], &[0xab; 12]].concat();
    let outcome = analyse(&[Segment { dir: Direction::ToServer, bytes: client_hello_with_extensions(&verify_data) }]);
    assert!(outcome.record.renegotiation);
    let empty_info = [0xff, 0x01, 0, 1, 0];
    let outcome = analyse(&[Segment { dir: Direction::ToServer, bytes: client_hello_with_extensions(&empty_info) }]);
    assert!(!outcome.record.renegotiation);
    assert_eq!(outcome.record.client_random.as_deref(), Some(&*"5a".repeat(32)));
}

#[test]
fn malformed_used_extension_is_noted_and_others_still_read() {
    // An SNI whose list length overruns it, then a good ALPN.
    let extensions = [&[0, 0, 0, 3, 0, 9, 0][..], &[0, 16, 0, 5, 0, 3, 2, b'h', b'2']].concat();
    let outcome = analyse(&[Segment { dir: Direction::ToServer, bytes: client_hello_with_extensions(&extensions) }]);
    assert_eq!((outcome.record.server_name.as_deref(), outcome.record.alpn_offered.as_deref()), (None, Some("h2")));
    assert_eq!(outcome.kinds(), ["tls_malformed_extension"]);
    // An extension block cut in its middle.
    let outcome = analyse(&[Segment { dir: Direction::ToServer, bytes: client_hello_with_extensions(&[0, 16, 0, 9, 0]) }]);
    assert_eq!(outcome.kinds(), ["tls_malformed_extension"]);
}

#[test]
fn hello_from_the_wrong_side_is_noted() {
    let hello = segments(ZEEK_HANDSHAKE_FAILURE).remove(0);
    let outcome = analyse(&[Segment { dir: Direction::ToClient, bytes: hello.bytes }]);
    assert_eq!(outcome.record, TlsRecord::default());
    assert_eq!(outcome.kinds(), ["tls_unexpected_handshake"]);
}

#[test]
fn alerts_are_capped() {
    let alerts: Vec<u8> = (0..20).flat_map(|_| [0x15, 3, 3, 0, 2, 1, 0]).collect();
    let outcome = analyse(&[Segment { dir: Direction::ToClient, bytes: alerts }]);
    assert_eq!(outcome.record.alerts, Some(vec!["warning:close_notify"; 16].join(",")));
    assert_eq!(outcome.kinds(), ["tls_too_many_alerts"]);
}

#[test]
fn malformed_alert_and_change_cipher_spec_are_noted() {
    let bytes = [&[0x15, 3, 3, 0, 3, 2, 40, 9][..], &[0x15, 3, 3, 0, 0], &[0x14, 3, 3, 0, 1, 7]].concat();
    let outcome = analyse(&[Segment { dir: Direction::ToClient, bytes }]);
    assert_eq!(outcome.record.alerts.as_deref(), Some("fatal:handshake_failure"));
    assert_eq!(outcome.kinds(), ["tls_malformed_alert", "tls_malformed_alert", "tls_malformed_change_cipher_spec"]);
}

#[test]
fn garbage_is_no_tls() {
    let outcome = analyse(&[Segment { dir: Direction::ToServer, bytes: b"GET / HTTP/1.1\r\n\r\n".to_vec() }]);
    assert_eq!(outcome.record, TlsRecord::default());
    assert_eq!(outcome.kinds(), ["tls_bad_record_header"]);
}

#[test]
fn every_trace_opens_with_a_client_hello() {
    for text in ALL_TRACES {
        let trace = segments(text);
        assert!(looks_like_client_hello(&trace[0].bytes));
        let server = trace.iter().find(|s| s.dir == Direction::ToClient).expect("a server segment");
        assert!(!looks_like_client_hello(&server.bytes));
    }
}

#[test]
fn unreadable_certificate_is_still_fingerprinted() {
    let mut trace = segments(OPENSSL_TLS12_TICKET_FULL);
    let server = &mut trace[1].bytes;
    let der_start = server.windows(2).position(|w| w == [0x30, 0x82]).expect("a DER certificate");
    // The TBSCertificate's SEQUENCE tag becomes a SET.
    assert_eq!(server[der_start + 4], 0x30);
    server[der_start + 4] = 0x31;
    let outcome = analyse(&trace);
    assert_eq!(outcome.record.cert_subject, None);
    let fingerprint = outcome.record.cert_sha256.as_deref().expect("a fingerprint");
    assert_eq!(fingerprint.len(), 64);
    assert_ne!(fingerprint, "5d9942f23437563bf73bc5e345ff178bdf3b367d2350e61963ffea0d26dd6cda");
    assert_eq!(outcome.kinds(), ["tls_bad_certificate"]);
}
