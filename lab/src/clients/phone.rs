//! An ActiveSync phone: Basic credentials on every request, no cookies kept (so no
//! balancer cookie helps it), and a new connection whenever it moves between Wi-Fi and the
//! carrier network — its source address changes in the middle of its sync session.

use super::link::{Link, Request};
use super::net::Dialer;
use super::plan::{Phone, PhoneKind};
use super::Clock;
use crate::eas;
use crate::exchange::basic_authorization;

/// The policy key a provisioned device sends (Provision itself goes without).
const POLICY_KEY: u32 = 3_942_919_513;

pub fn run(plan: &Phone, dialer: &Dialer, clock: &Clock) -> String {
    clock.sleep_until(plan.start);
    let device_id = device_id(plan);
    let mut link = Link::new(dialer, plan.networks[0], None);
    let mut network = 0;
    let mut failure = String::new();
    for step in &plan.steps {
        if !clock.sleep(step.pause) {
            break;
        }
        if step.action.network != network {
            network = step.action.network;
            link.move_to(plan.networks[network]);
        }
        if let Err(error) = link.send(&request(plan, &device_id, step.action.command)) {
            failure = format!(" ({} failed: {error})", step.action.command);
        }
    }
    let networks: Vec<String> = plan.networks.iter().map(ToString::to_string).collect();
    format!(
        "activesync {} {:?} {device_id} via {}{failure}; {}",
        plan.user,
        plan.kind,
        networks.join("/"),
        link.tally.summary()
    )
}

/// iPhones and Android phones use printable IDs; Windows Phone sends a binary one (hex here).
fn device_id(plan: &Phone) -> String {
    let hex: String = plan
        .device_id
        .iter()
        .map(|byte| format!("{byte:02X}"))
        .collect();
    match plan.kind {
        PhoneKind::IPhone => format!("Appl{}", &hex[..12]),
        PhoneKind::Android => format!("androidc{}", hex.to_ascii_lowercase()),
        PhoneKind::WindowsPhone => hex,
    }
}

fn request(plan: &Phone, device_id: &str, command: &str) -> Request {
    let (device_type, user_agent) = match plan.kind {
        PhoneKind::IPhone => ("iPhone", "Apple-iPhone5C2/1102.55400001"),
        PhoneKind::Android => ("Android", "Android-SAMSUNG-GT-I9505/101.403"),
        PhoneKind::WindowsPhone => ("WP", "MSFT-WP/7.10.8107"),
    };
    let policy_key = (command != "Provision").then_some(POLICY_KEY);
    let request = if command == "Options" {
        Request::new("OPTIONS", "/Microsoft-Server-ActiveSync")
    } else {
        let query = match plan.kind {
            PhoneKind::WindowsPhone => eas::base64_query(
                command,
                &plan.device_id,
                policy_key,
                device_type,
                Some(&plan.user),
            ),
            _ => Some(eas::plain_query(
                command,
                &plan.user,
                device_id,
                device_type,
            )),
        };
        let target = format!("/Microsoft-Server-ActiveSync?{}", query.unwrap_or_default());
        Request::post(
            &target,
            "application/vnd.ms-sync.wbxml",
            wbxml_request(command),
        )
    };
    let request = request
        .header("User-Agent", user_agent)
        .header("Authorization", &basic_authorization(&plan.user));
    match (plan.kind, policy_key) {
        // The base64 form carries the version and policy key in the query itself.
        (PhoneKind::WindowsPhone, _) => request,
        (_, Some(key)) => request
            .header("MS-ASProtocolVersion", "14.1")
            .header("X-MS-PolicyKey", &key.to_string()),
        (_, None) => request.header("MS-ASProtocolVersion", "14.1"),
    }
}

/// A minimal WBXML request body: `<Root><SyncKey>0</SyncKey></Root>` in the command's page.
fn wbxml_request(command: &str) -> Vec<u8> {
    // (code page, root tag, first child tag) from [MS-ASWBXML].
    let (page, root, child) = match command {
        "FolderSync" => (7, 0x16, 0x12),
        "Ping" => (13, 0x05, 0x08),
        "Provision" => (14, 0x05, 0x06),
        _ => (0, 0x05, 0x0B),
    };
    vec![
        0x03,
        0x01,
        0x6A,
        0x00,
        0x00,
        page,
        root | 0x40,
        child | 0x40,
        0x03,
        b'0',
        0x00,
        0x01,
        0x01,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn phone(kind: PhoneKind) -> Phone {
        Phone {
            user: "user2".into(),
            kind,
            device_id: [0xAB; 8],
            networks: vec![],
            start: Duration::ZERO,
            steps: vec![],
        }
    }

    fn text(request: &Request) -> String {
        String::from_utf8_lossy(&request.encode(None)).into_owned()
    }

    #[test]
    fn plain_form_request() {
        let plan = phone(PhoneKind::IPhone);
        let id = device_id(&plan);
        assert_eq!(id, "ApplABABABABABAB");
        let sync = text(&request(&plan, &id, "Sync"));
        assert!(sync.starts_with("POST /Microsoft-Server-ActiveSync?Cmd=Sync&User=user2&DeviceId=ApplABABABABABAB&DeviceType=iPhone HTTP/1.1\r\n"));
        assert!(sync.contains("X-MS-PolicyKey: 3942919513\r\n"));
        assert!(sync.contains("Authorization: Basic "));
        assert!(!text(&request(&plan, &id, "Provision")).contains("X-MS-PolicyKey"));
        assert!(text(&request(&plan, &id, "Options"))
            .starts_with("OPTIONS /Microsoft-Server-ActiveSync HTTP/1.1\r\n"));
    }

    #[test]
    fn windows_phone_uses_the_base64_form() {
        let plan = phone(PhoneKind::WindowsPhone);
        let id = device_id(&plan);
        let ping = text(&request(&plan, &id, "Ping"));
        let target = ping.split(' ').nth(1).unwrap();
        let query = target
            .strip_prefix("/Microsoft-Server-ActiveSync?")
            .unwrap();
        assert_eq!(eas::command(query).as_deref(), Some("Ping"));
        assert!(!ping.contains("MS-ASProtocolVersion"));
    }
}
