//! An ActiveSync phone: Basic credentials on every request, no cookies kept (so no
//! balancer cookie helps it), and a new connection whenever it moves between Wi-Fi and the
//! carrier network — its source address changes in the middle of its sync session.

use super::link::{Link, Request};
use super::net::Dialer;
use super::plan::Phone;
use super::Clock;
use crate::eas::{self, PhoneKind, POLICY_KEY};
use crate::exchange::basic_authorization;

pub fn run(plan: &Phone, dialer: &Dialer, clock: &Clock) -> String {
    clock.sleep_until(plan.start);
    let device_id = plan.kind.device_id_text(&plan.device_id);
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

fn request(plan: &Phone, device_id: &str, command: &str) -> Request {
    let device_type = plan.kind.device_type();
    let user_agent = match plan.kind {
        PhoneKind::IPhone => "Apple-iPhone5C2/1102.55400001",
        PhoneKind::Android => "Android-SAMSUNG-GT-I9505/101.403",
        PhoneKind::WindowsPhone => "MSFT-WP/7.10.8107",
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
            eas::wbxml_request(command),
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
        let id = plan.kind.device_id_text(&plan.device_id);
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
        let id = plan.kind.device_id_text(&plan.device_id);
        let ping = text(&request(&plan, &id, "Ping"));
        let target = ping.split(' ').nth(1).unwrap();
        let query = target
            .strip_prefix("/Microsoft-Server-ActiveSync?")
            .unwrap();
        assert_eq!(eas::command(query).as_deref(), Some("Ping"));
        assert!(!ping.contains("MS-ASProtocolVersion"));
    }
}
