//! Conformance of the transactions table with Zeek's http.log on the reference corpus.
//!
//! Each connection must carry the same transactions as in Zeek's log, in the same order
//! (`trans_depth`), with the same method, host, uri, version, status, body lengths and Basic
//! user name, wherever the baseline has the column. Zeek's uids are not ours: a row's connection
//! is found by its endpoints (or, in a baseline cut to the uid, by Zeek's creation order).
//!
//! Zeek also logs records without a request (a response no request waits for, or an empty
//! record), which take a depth of their own: they are differences of their own kind
//! (`orphan_response`, `empty_record`), and the depths of the requests are compared without them.
//! A difference is only accepted when `KNOWN_DIFFERENCES` lists it with the reason, and a listed
//! difference that no longer occurs fails too, so that the list stays true.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{compare_with_zeek, zeek_value, Connections, Findings, Report, Row, ZeekLog};

/// Zeek's `version` is the response's (set by `http_reply`); ours is the request's.
const VERSION_OF_RESPONSE: &str =
    "Zeek logs the response's version (unset without a response), we log the request's: they differ here (checked with tshark)";

/// Zeek decompresses gzip/deflate bodies before counting them.
const DECOMPRESSED: &str =
    "Content-Encoding gzip/deflate: Zeek counts the body decompressed, we count the bytes on the wire (Content-Length)";

/// (Zeek test, field, why we differ); each one checked against the packets with tshark.
const KNOWN_DIFFERENCES: &[(&str, &str, &str)] = &[
    ("scripts.base.protocols.http.curl-http-09", "version", VERSION_OF_RESPONSE),
    ("scripts.base.protocols.http.deeply-nested-mime", "version", VERSION_OF_RESPONSE),
    ("scripts.base.protocols.http.http-basic-auth-colon", "version", VERSION_OF_RESPONSE),
    ("scripts.base.protocols.http.http-basic-auth-extra-space", "version", VERSION_OF_RESPONSE),
    ("scripts.base.protocols.http.http-connect-with-header", "version", VERSION_OF_RESPONSE),
    ("scripts.base.protocols.http.http-methods", "version", VERSION_OF_RESPONSE),
    ("scripts.base.protocols.http.inner-transfer-encoding-ossfuzz", "version", VERSION_OF_RESPONSE),
    ("scripts.base.protocols.http.inner-transfer-encoding-reproducer", "version", VERSION_OF_RESPONSE),
    ("scripts.base.protocols.http.multipart-body-length", "version", VERSION_OF_RESPONSE),
    ("scripts.base.protocols.http.version-mismatch", "version", VERSION_OF_RESPONSE),
    ("scripts.base.protocols.http.x-gzip", "response_body_len", DECOMPRESSED),
    ("scripts.base.protocols.http.missing-zlib-header", "response_body_len", DECOMPRESSED),
    ("scripts.base.protocols.http.http-pipelining", "response_body_len", DECOMPRESSED),
    ("scripts.base.protocols.http.smuggle-http-request", "request_body_len", DECOMPRESSED),
    ("scripts.base.protocols.http.inner-transfer-encoding-reproducer", "request_body_len", DECOMPRESSED),
    (
        "scripts.base.protocols.http.inner-transfer-encoding-reproducer",
        "response_body_len",
        "HTTP/1.0 response delimited by the close, 35 bytes with no line end: Zeek reads such bodies line by line and \
         counts 2 bytes of CR LF for the last line, which is not on the wire",
    ),
    (
        "scripts.base.protocols.http.http-no-crlf",
        "request_body_len",
        "multipart/form-data bodies of Content-Length bytes (6084, ...) that end without CR LF nor closing boundary \
         (NUL bytes): Zeek counts multipart bodies line by line and adds 2 bytes of CR LF for the last line too",
    ),
    (
        "scripts.base.protocols.http.http-methods",
        "orphan_response",
        "requests Zeek cannot parse (bad_HTTP_request: 'GET/ HTTP/1.1', non-token methods...): Zeek logs their \
         responses alone with method '-'; we skip the request bytes as garbage and report the response without \
         request as an anomaly (http_response_without_request), never as a transaction",
    ),
    (
        "scripts.base.protocols.http.http-methods",
        "host",
        "'GET /HTTP/1.1' has no version, so it is an HTTP/0.9 request line, which has no headers: we skip the \
         'Host:' line after it as garbage (http_garbage), Zeek reads it as a header. The server's reply does have \
         a status line, yet both Zeek and we read it as an HTTP/0.9 body (status 0)",
    ),
    (
        "scripts.base.protocols.http.http-desynched",
        "orphan_response",
        "the server sent three responses to the first request: Zeek logs the two extra ones with method '-' (depths \
         2 and 3); we report them as anomalies (http_response_without_request) and pair the next four requests with \
         the next four responses, as Zeek does",
    ),
    (
        "scripts.base.protocols.http.http-09-content-length-confusion",
        "orphan_response",
        "the server sends 'HTTP/1.1 200 OK' before any request: Zeek logs it with method '-' (depth 1); we report it \
         as an anomaly (http_response_without_request), so the HTTP/0.9 request that follows is our depth 1",
    ),
    (
        "scripts.base.protocols.http.http-bad-request-with-version",
        "orphan_response",
        "four bytes of garbage (dd 00 00 00) and a space precede 'GET /txt HTTP/1.1': Zeek drops the request \
         (bad_HTTP_request_with_version) and logs the response alone",
    ),
    (
        "scripts.base.protocols.http.http-bad-request-with-version",
        "transaction",
        "we skip the five garbage bytes (http_garbage) and parse 'GET /txt' from www.msftncsi.com; the server \
         answered it (200, 'Microsoft NCSI'), so the request was real",
    ),
    (
        "scripts.base.protocols.http.http-09",
        "empty_record",
        "after each HTTP/0.9 exchange Zeek logs a second record with neither request nor response (depth 2); one \
         request and one response are on the wire",
    ),
    (
        "scripts.base.protocols.http.no-version",
        "empty_record",
        "after the HTTP/0.9 exchange Zeek logs a second record with neither request nor response (depth 2); one \
         request and one response are on the wire",
    ),
    (
        "scripts.base.protocols.http.inner-transfer-encoding-ossfuzz",
        "uri",
        "fuzzer bytes: the request target holds byte d9, not UTF-8; Zeek escapes it (\\xd9), we decode text \
         lossily as UTF-8 (U+FFFD)",
    ),
    (
        "scripts.base.protocols.http.inner-transfer-encoding-ossfuzz",
        "request_body_len",
        "fuzzer bytes: the 586 bytes from the client hold no empty line (no CR LF CR LF, no LF LF), so for us the \
         request headers never end (http_message_truncated) and there is no body; Zeek ends lines at NUL bytes too, \
         finds an end of the headers and counts a 2-byte body",
    ),
];

/// Zeek's column and ours for each field compared.
const FIELDS: &[(&str, &str)] = &[
    ("method", "method"),
    ("host", "host"),
    ("uri", "uri"),
    ("version", "version"),
    ("status_code", "status"),
    ("request_body_len", "request_body_len"),
    ("response_body_len", "response_body_len"),
    ("username", "username"),
];

#[test]
fn transactions_agree_with_zeek_http_log() {
    compare_with_zeek("http.log", KNOWN_DIFFERENCES, |zeek, report, findings| {
        let theirs = zeek_by_connection(zeek, &Connections::of(report), findings);
        let ours = ours_by_connection(report);
        let conn_ids: BTreeSet<&String> = theirs.keys().chain(ours.keys()).collect();
        for conn_id in conn_ids {
            let zeek_records = theirs.get(conn_id).map(Vec::as_slice).unwrap_or_default();
            let requests = requests_apart(zeek_records, zeek.has("method"), conn_id, findings);
            let our_txs = ours.get(conn_id).map(Vec::as_slice).unwrap_or_default();
            compare_transactions(zeek, conn_id, &requests, our_txs, findings);
        }
    });
}

/// Zeek's records by our connection id, in depth order (a baseline cut without the depth lists
/// each connection's records in order).
fn zeek_by_connection<'a>(
    zeek: &'a ZeekLog,
    connections: &Connections,
    findings: &mut Findings,
) -> BTreeMap<String, Vec<&'a Row>> {
    let mut theirs: BTreeMap<String, Vec<&Row>> = BTreeMap::new();
    for z in &zeek.rows {
        match connections.find(z) {
            Some(conn) => theirs.entry(conn["conn_id"].clone()).or_default().push(z),
            None => findings.differ("connection", format!("no connection of ours for {z:?}")),
        }
    }
    if zeek.has("trans_depth") {
        theirs.values_mut().for_each(|records| records.sort_by_key(|z| depth(z)));
    }
    theirs
}

/// Our transactions by connection id, in depth order.
fn ours_by_connection(report: &Report) -> BTreeMap<String, Vec<Row>> {
    let mut ours: BTreeMap<String, Vec<Row>> = BTreeMap::new();
    for row in report.table("transactions") {
        ours.entry(row["conn_id"].clone()).or_default().push(row);
    }
    ours.values_mut().for_each(|txs| txs.sort_by_key(depth));
    ours
}

/// Compares one connection's requests in Zeek's log with our transactions, in order.
fn compare_transactions(
    zeek: &ZeekLog,
    conn_id: &str,
    requests: &[(&Row, Option<u64>)],
    our_txs: &[Row],
    findings: &mut Findings,
) {
    for (position, ((z, zeek_depth), o)) in (1..).zip(requests.iter().zip(our_txs)) {
        findings.compared += 1;
        let what = format!("{conn_id} #{position}");
        if zeek_depth.is_some_and(|d| d != position) || depth(o) != position {
            // Zeek's depth here does not count its records without request.
            findings.differ("trans_depth", format!("{what}: zeek {zeek_depth:?}, ours {}", depth(o)));
        }
        for (zeek_field, our_field) in FIELDS.iter().filter(|(zeek_field, _)| zeek.has(zeek_field)) {
            findings.check(zeek_field, zeek_value(z, zeek_field), &as_zeek_logs(zeek_field, &o[*our_field]), &what);
        }
    }
    for (z, _) in requests.iter().skip(our_txs.len()) {
        let request = format!("{} {}", zeek_value(z, "method"), zeek_value(z, "uri"));
        findings.differ("transaction", format!("{conn_id}: only in Zeek: {request}"));
    }
    for o in our_txs.iter().skip(requests.len()) {
        findings
            .differ("transaction", format!("{conn_id} #{}: only ours: {} {}", o["trans_depth"], o["method"], o["uri"]));
    }
}

/// Zeek's records of one connection that have a request, with their depth counted without the
/// records that have none (reported as differences). A baseline without the method column
/// cannot tell them apart: every record counts as a request.
fn requests_apart<'a>(
    records: &[&'a Row],
    has_method: bool,
    conn_id: &str,
    findings: &mut Findings,
) -> Vec<(&'a Row, Option<u64>)> {
    let mut without_request = 0;
    let mut requests = Vec::new();
    for z in records {
        if !has_method || z.contains_key("method") {
            requests.push((*z, z.get("trans_depth").map(|_| depth(z).saturating_sub(without_request))));
            continue;
        }
        without_request += 1;
        let kind = if z.contains_key("status_code") { "orphan_response" } else { "empty_record" };
        let record = format!("#{} status {:?}", zeek_value(z, "trans_depth"), zeek_value(z, "status_code"));
        findings.differ(kind, format!("{conn_id}: Zeek record {record} has no request"));
    }
    requests
}

fn depth(row: &Row) -> u64 {
    row["trans_depth"].parse().unwrap()
}

/// Our value as Zeek writes that field: the uri percent-decoded (Zeek logs the unescaped URI, we
/// log it as sent), and bytes outside printable ASCII as `\xNN`.
fn as_zeek_logs(zeek_field: &str, ours: &str) -> String {
    let bytes = if zeek_field == "uri" { percent_decoded(ours.as_bytes()) } else { ours.as_bytes().to_vec() };
    let mut out = String::with_capacity(bytes.len());
    for byte in bytes {
        if byte.is_ascii_graphic() || byte == b' ' {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("\\x{byte:02x}"));
        }
    }
    out
}

/// `%` and two hex digits decoded, any other `%` kept, as Zeek's `unescape_URI` does (its rarer
/// `%%` and `%uXXXX` forms do not occur in the corpus).
fn percent_decoded(uri: &[u8]) -> Vec<u8> {
    let hex = |b: u8| char::from(b).to_digit(16);
    let mut out = Vec::with_capacity(uri.len());
    let mut i = 0;
    while let Some(&byte) = uri.get(i) {
        match (byte, uri.get(i + 1).copied().and_then(hex), uri.get(i + 2).copied().and_then(hex)) {
            (b'%', Some(high), Some(low)) => {
                out.push((high * 16 + low) as u8);
                i += 3;
            }
            _ => {
                out.push(byte);
                i += 1;
            }
        }
    }
    out
}

#[test]
fn uris_are_unescaped_like_zeek() {
    assert_eq!(percent_decoded(b"/a%20b%3d%22c%22"), b"/a b=\"c\"");
    assert_eq!(percent_decoded(b"/%"), b"/%");
    assert_eq!(percent_decoded(b"/%5"), b"/%5");
    assert_eq!(percent_decoded(b"/%zz%4"), b"/%zz%4");
    assert_eq!(as_zeek_logs("uri", "/%d9x"), "/\\xd9x");
    assert_eq!(as_zeek_logs("host", "a%20b"), "a%20b");
}
