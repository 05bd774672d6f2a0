//! The extractor end to end: one transaction in, its evidence out.

use base64::Engine as _;

use super::*;
use crate::fingerprint::TokenDigest;
use crate::http::{Headers, RequestHead, ResponseHead};

const REQUEST_TS: Timestamp = Timestamp::from_nanos(1_700_000_000_000_000_000);

fn headers(list: &[(&str, &str)]) -> Headers {
    list.iter().copied().collect()
}

fn transaction(method: &str, uri: &str, request: &[(&str, &str)], response: Option<&[(&str, &str)]>) -> Transaction {
    Transaction {
        depth: 1,
        request: RequestHead {
            ts: REQUEST_TS,
            method: method.to_owned(),
            uri: uri.to_owned(),
            version: "1.1".into(),
            headers: headers(request),
        },
        response: response.map(|list| ResponseHead {
            ts: REQUEST_TS.add_secs(1),
            version: "1.1".into(),
            status: 200,
            reason: "OK".to_owned(),
            headers: headers(list),
        }),
        request_body_len: 0,
        response_body_len: 0,
        ts_response_end: None,
        incomplete: false,
    }
}

/// Tracked cookies as the evidence keeps them.
fn cookies(list: &[(&str, &str)]) -> Vec<TrackedCookie> {
    list.iter().map(|&(name, value)| TrackedCookie::new(CookieName::of(name), value)).collect()
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[test]
fn owa_transaction_with_every_kind_of_evidence() {
    let extractor = EvidenceExtractor::new(&EvidenceConfig {
        extra_cookies: vec!["X-BackEndCookie".to_owned()],
        ..Default::default()
    });
    let tx = transaction(
        "POST",
        "/owa/service.svc?action=GetFolder",
        &[
            ("Cookie", "ClientId=ABC; cadata=\"xyz==\"; UserContext=u1; BIGipServerpool_owa=1677787402.20480.0000"),
            ("Cookie", "X-BackEndCookie=S-1-5=abc"),
            ("Authorization", &format!("Basic {}", b64(b"CONTOSO\\jdoe:Secr3t"))),
            ("X-Forwarded-For", "198.51.100.23, 10.0.0.5"),
        ],
        Some(&[
            ("Set-Cookie", "UserContext=u2; path=/; secure"),
            ("Set-Cookie", "BIGipServerpool_owa=2064452106.47873.0000; path=/; Httponly"),
            ("Set-Cookie", "other=1"),
            ("X-FEServer", "CAS01"),
            ("X-CalculatedBETarget", "mbx01.contoso.com"),
            ("X-DiagInfo", "MBX01"),
        ]),
    );
    let evidence = extractor.extract(&tx);
    let f5 = |value: &str, server: &str, source| LbCookie {
        kind: LbCookieKind::F5,
        name: "BIGipServerpool_owa".to_owned(),
        value: value.to_owned(),
        decoded_server: Some(server.to_owned()),
        source,
    };
    assert_eq!(
        evidence,
        TransactionEvidence {
            app: ExchangeApp::Owa,
            forwarded_for: Some("198.51.100.23".to_owned()),
            auth_scheme: Some("basic".to_owned()),
            username: Some("CONTOSO\\jdoe".to_owned()),
            activesync: ActiveSyncParams::default(),
            cookies_sent: cookies(&[
                ("cadata", "\"xyz==\""),
                ("UserContext", "u1"),
                ("BIGipServerpool_owa", "1677787402.20480.0000"),
                ("X-BackEndCookie", "S-1-5=abc"),
            ]),
            cookies_set: cookies(&[("UserContext", "u2"), ("BIGipServerpool_owa", "2064452106.47873.0000")]),
            logon_name: None,
            lb_cookie: Some(f5("1677787402.20480.0000", "10.1.1.100:80", CookieSource::Sent)),
            lb_cookie_set: Some(f5("2064452106.47873.0000", "10.10.13.123:443", CookieSource::Set)),
            server_hint: Some("mbx01.contoso.com".to_owned()),
            fe_server: Some("CAS01".to_owned()),
            be_server: Some("mbx01.contoso.com".to_owned()),
            diag_info: Some("MBX01".to_owned()),
            anomalies: vec![],
        }
    );
}

#[test]
fn exchange_cookie_by_index_prefers_the_value_sent() {
    let extractor = EvidenceExtractor::new(&EvidenceConfig::default());
    let tx = transaction(
        "GET",
        "/ecp/",
        &[("Cookie", "msExchEcpCanary=sent; UserContext=ctx")],
        Some(&[("Set-Cookie", "msExchEcpCanary=set"), ("Set-Cookie", "MstrPgLd2=last")]),
    );
    let evidence = extractor.extract(&tx);
    let digest = |cookie: Option<&TrackedCookie>| cookie.map(|c| c.digest);
    let columns: Vec<_> = (0..EXCHANGE_COOKIES.len()).map(|i| digest(evidence.exchange_cookie(i))).collect();
    let mut expected = [None; 15];
    expected[0] = Some(TokenDigest::of("ctx"));
    expected[9] = Some(TokenDigest::of("sent"));
    expected[14] = Some(TokenDigest::of("last"));
    assert_eq!(columns, expected);
    assert_eq!(evidence.exchange_cookies().map(digest), expected);
    assert_eq!(evidence.exchange_cookie(15), None);
    assert_eq!(evidence.exchange_cookie(usize::MAX), None);
}

#[test]
fn password_never_appears_in_the_evidence() {
    let extractor = EvidenceExtractor::new(&EvidenceConfig::default());
    let credentials = b64(b"DOMAIN\\user:pa:ss");
    let tx = transaction("GET", "/ews/exchange.asmx", &[("Authorization", &format!("Basic {credentials}"))], None);
    let evidence = extractor.extract(&tx);
    assert_eq!(evidence.username.as_deref(), Some("DOMAIN\\user"));
    let debug = format!("{evidence:?}");
    for secret in ["pa:ss", ":pa", credentials.as_str()] {
        assert!(!debug.contains(secret), "a piece of the credentials is in the Debug output");
    }
    // Nor when the header is malformed.
    let tx = transaction("GET", "/ews/", &[("Authorization", "Basic pa:ss")], None);
    let evidence = extractor.extract(&tx);
    assert!(!format!("{evidence:?}").contains("pa:ss"), "malformed credentials are quoted in the Debug output");
    assert_eq!(
        evidence.anomalies,
        [Anomaly::new(REQUEST_TS, "auth_bad_base64", "basic credentials are not base64 (5 chars)")]
    );
}

#[test]
fn activesync_base64_query_and_ntlm_user_side_by_side() {
    let extractor = EvidenceExtractor::new(&EvidenceConfig::default());
    // Ping, device "DEV1", type "iPad", no User parameter: the user is Authorization's.
    let query = b64(&[141, 18, 0x09, 0x04, 4, b'D', b'E', b'V', b'1', 0, 4, b'i', b'P', b'a', b'd']);
    let tx = transaction(
        "POST",
        &format!("/Microsoft-Server-ActiveSync?{query}"),
        &[("Authorization", &format!("Basic {}", b64(b"jdoe@contoso.com:x")))],
        None,
    );
    let evidence = extractor.extract(&tx);
    assert_eq!(evidence.app, ExchangeApp::ActiveSync);
    assert_eq!(
        evidence.activesync,
        ActiveSyncParams {
            user: None,
            device_id: Some("DEV1".to_owned()),
            device_type: Some("iPad".to_owned()),
            cmd: Some("Ping".to_owned())
        }
    );
    assert_eq!(evidence.username.as_deref(), Some("jdoe@contoso.com"));
}

#[test]
fn activesync_parameters_only_for_activesync() {
    let extractor = EvidenceExtractor::new(&EvidenceConfig::default());
    let plain = "Cmd=Sync&User=jdoe&DeviceId=ABC&DeviceType=iPhone";
    let evidence = extractor.extract(&transaction("POST", &format!("/Microsoft-Server-ActiveSync?{plain}"), &[], None));
    assert_eq!(evidence.activesync.device_id.as_deref(), Some("ABC"));
    let evidence = extractor.extract(&transaction("POST", &format!("/owa/?{plain}"), &[], None));
    assert_eq!(evidence.activesync, ActiveSyncParams::default());
    let evidence = extractor.extract(&transaction(
        "GET",
        &format!("/Microsoft-Server-ActiveSync/healthcheck.htm?{plain}"),
        &[],
        None,
    ));
    assert_eq!((evidence.app, evidence.activesync), (ExchangeApp::HealthProbe, ActiveSyncParams::default()));
}

#[test]
fn configured_balancer_cookie_and_set_only_placement() {
    let config = EvidenceConfig { lb_cookies: vec!["SRV".to_owned()], ..Default::default() };
    let extractor = EvidenceExtractor::new(&config);
    let tx = transaction(
        "GET",
        "/mapi/emsmdb/",
        &[("Cookie", "srv=lower; other=1")],
        Some(&[("Set-Cookie", "SRV=cas02; path=/")]),
    );
    let evidence = extractor.extract(&tx);
    let placed = LbCookie {
        kind: LbCookieKind::Extra,
        name: "SRV".to_owned(),
        value: "cas02".to_owned(),
        decoded_server: None,
        source: CookieSource::Set,
    };
    assert!(evidence.cookies_sent.is_empty());
    assert_eq!(evidence.cookies_set, cookies(&[("SRV", "cas02")]));
    assert_eq!(evidence.lb_cookie.as_ref(), Some(&placed));
    assert_eq!(evidence.lb_cookie_set, Some(placed));
}

#[test]
fn bare_request_without_response() {
    let extractor = EvidenceExtractor::new(&EvidenceConfig::default());
    let evidence = extractor.extract(&transaction("OPTIONS", "/", &[], None));
    assert_eq!(
        evidence,
        TransactionEvidence {
            app: ExchangeApp::HealthProbe,
            forwarded_for: None,
            auth_scheme: None,
            username: None,
            activesync: ActiveSyncParams::default(),
            cookies_sent: vec![],
            cookies_set: vec![],
            logon_name: None,
            lb_cookie: None,
            lb_cookie_set: None,
            server_hint: None,
            fe_server: None,
            be_server: None,
            diag_info: None,
            anomalies: vec![],
        }
    );
}

#[test]
fn garbage_headers_never_panic() {
    let extractor = EvidenceExtractor::new(&EvidenceConfig {
        extra_cookies: vec![String::new()],
        lb_cookies: vec![String::new()],
        health_paths: vec![String::new()],
        monitor_user_agents: vec![String::new()],
    });
    let junk = [
        "",
        " ",
        "=",
        ";",
        ",",
        "\"",
        "[",
        "]:",
        "%",
        "%%",
        "\u{fffd}\u{0}",
        "NTLM",
        "Negotiate YA==",
        "Basic Og==",
        "rd",
        "vi.",
        "é",
    ];
    for a in junk {
        for b in junk {
            let request = [
                ("Cookie", a),
                ("Cookie", b),
                ("Authorization", a),
                ("X-Forwarded-For", b),
                ("X-Real-IP", a),
                ("Forwarded", b),
                ("User-Agent", a),
            ];
            let response = [("Set-Cookie", a), ("Set-Cookie", b), ("X-FEServer", a), ("X-BEServer", b)];
            let uri = format!("/Microsoft-Server-ActiveSync?{a}{b}");
            let evidence = extractor.extract(&transaction(a, &uri, &request, Some(&response)));
            assert_eq!(evidence.app, ExchangeApp::ActiveSync);
        }
    }
}

#[test]
fn cookie_values_never_appear_in_the_evidence_and_the_logon_name_does() {
    let extractor = EvidenceExtractor::new(&EvidenceConfig::default());
    let tx = transaction(
        "GET",
        "/owa/",
        &[("Cookie", "cadata=\"SECRETTOKEN\"; sessionid=SESSIONVALUE")],
        Some(&[("Set-Cookie", "logondata=acc=0&lgn=CONTOSO%5CUser4; path=/")]),
    );
    let evidence = extractor.extract(&tx);
    assert_eq!(evidence.logon_name.as_deref(), Some("CONTOSO\\User4"));
    let cadata = evidence.exchange_cookie(2).expect("cadata was sent");
    assert_eq!(cadata.token, Some(TokenDigest::of("SECRETTOKEN")));
    let debug = format!("{evidence:?}");
    for secret in ["SECRETTOKEN", "SESSIONVALUE"] {
        assert!(!debug.contains(secret), "a cookie value is in the Debug output");
    }
}
