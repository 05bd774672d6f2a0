//! An ActiveSync phone over one connection: Basic credentials and the device in the query
//! string on every request (plain form for iPhone and Android, base64 form for Windows Phone),
//! no cookies kept; a new device provisions itself first; then syncs and hanging Pings that the
//! server holds for the heartbeat — sometimes longer than an analyzer's idle timeout.

use super::farm::iis_response;
use super::message::{Body, Head};
use super::outbox::{Content, Piece};
use super::script::{Close, Script, Turn};
use super::time::{Nanos, MILLISECOND, SECOND};
use crate::eas::{self, PhoneKind, POLICY_KEY};
use crate::exchange::{basic_authorization, HOST};
use crate::rng::Rng;

const PROTOCOL_VERSIONS: &str = "2.0,2.1,2.5,12.0,12.1,14.0,14.1";
const PROTOCOL_COMMANDS: &str = "Sync,SendMail,SmartForward,SmartReply,GetAttachment,FolderSync,FolderCreate,FolderDelete,FolderUpdate,MoveItems,GetItemEstimate,MeetingResponse,Search,Settings,Ping,ItemOperations,Provision,ResolveRecipients,ValidateCert";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Phone {
    pub user: String,
    pub kind: PhoneKind,
    pub device_id: [u8; 8],
}

impl Phone {
    fn user_agent(&self) -> &'static str {
        match self.kind {
            PhoneKind::IPhone => "Apple-iPhone5C2/1102.55400001",
            PhoneKind::Android => "Android-SAMSUNG-GT-I9505/101.403",
            PhoneKind::WindowsPhone => "MSFT-WP/8.0.10521",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Command {
    Options,
    Provision,
    FolderSync,
    Sync,
    Ping,
}

impl Command {
    fn name(self) -> &'static str {
        match self {
            Command::Options => "Options",
            Command::Provision => "Provision",
            Command::FolderSync => "FolderSync",
            Command::Sync => "Sync",
            Command::Ping => "Ping",
        }
    }
}

pub struct ActiveSyncConnection {
    phone: Phone,
    /// The CAS source-address persistence sends this phone to.
    cas: usize,
    commands: Vec<Command>,
    next: usize,
}

impl ActiveSyncConnection {
    /// `first_contact`: the device has never synced and provisions itself first.
    pub fn new(
        phone: Phone,
        cas: usize,
        first_contact: bool,
        rng: &mut Rng,
    ) -> ActiveSyncConnection {
        let mut commands = if first_contact {
            vec![
                Command::Options,
                Command::Provision,
                Command::Provision,
                Command::FolderSync,
            ]
        } else {
            Vec::new()
        };
        commands.extend((0..rng.range(1, 3)).map(|_| Command::Sync));
        for _ in 0..rng.range(1, 6) {
            commands.push(Command::Ping);
            if rng.chance(60) {
                commands.push(Command::Sync);
            }
        }
        ActiveSyncConnection {
            phone,
            cas,
            commands,
            next: 0,
        }
    }

    fn request(&self, command: Command, rng: &mut Rng) -> Vec<Piece> {
        let device_type = self.phone.kind.device_type();
        let user_agent = self.phone.user_agent();
        let policy_key = (command != Command::Provision).then_some(POLICY_KEY);
        let base64_form = self.phone.kind == PhoneKind::WindowsPhone;
        let target = match (command, base64_form) {
            (Command::Options, _) => "/Microsoft-Server-ActiveSync".to_owned(),
            (_, true) => {
                let query = eas::base64_query(
                    command.name(),
                    &self.phone.device_id,
                    policy_key,
                    device_type,
                    Some(&self.phone.user),
                );
                format!("/Microsoft-Server-ActiveSync?{}", query.unwrap_or_default())
            }
            (_, false) => {
                let query = eas::plain_query(
                    command.name(),
                    &self.phone.user,
                    &self.phone.kind.device_id_text(&self.phone.device_id),
                    device_type,
                );
                format!("/Microsoft-Server-ActiveSync?{query}")
            }
        };
        let method = if command == Command::Options {
            "OPTIONS"
        } else {
            "POST"
        };
        let mut head = Head::request(method, &target, "HTTP/1.1")
            .header("Host", HOST)
            .header("Accept", "*/*")
            .header("Authorization", basic_authorization(&self.phone.user))
            .header("User-Agent", user_agent);
        // The base64 form carries the version and policy key in the query itself.
        if !base64_form {
            head = head.header("MS-ASProtocolVersion", "14.1");
            if let Some(key) = policy_key {
                head = head.header("X-MS-PolicyKey", key);
            }
        }
        if command == Command::Options {
            return head.finish(Body::None);
        }
        head.header("Content-Type", "application/vnd.ms-sync.wbxml")
            .finish(Body::Fill {
                content: Content::Opaque,
                len: rng.range(13, 300),
            })
    }

    fn response(&self, command: Command, now: Nanos, rng: &mut Rng) -> Vec<Piece> {
        let head = iis_response(200, "OK", self.cas, now).header("Cache-Control", "private");
        let len = match command {
            Command::Options => {
                return head
                    .header("Allow", "OPTIONS,POST")
                    .header("MS-Server-ActiveSync", "14.3")
                    .header("MS-ASProtocolVersions", PROTOCOL_VERSIONS)
                    .header("MS-ASProtocolCommands", PROTOCOL_COMMANDS)
                    .header("Public", "OPTIONS,POST")
                    .finish(Body::Bytes(Vec::new()))
            }
            Command::Provision => rng.range(150, 600),
            Command::FolderSync => rng.range(2_000, 8_000),
            Command::Ping => 13,
            // Mostly headers of new mail, sometimes a message with its body.
            Command::Sync if rng.chance(10) => rng.range(20_000, 100_000),
            Command::Sync => rng.range(200, 6_000),
        };
        head.header("MS-Server-ActiveSync", "14.3")
            .header("Content-Type", "application/vnd.ms-sync.wbxml")
            .finish(Body::Fill {
                content: Content::Opaque,
                len,
            })
    }
}

impl Script for ActiveSyncConnection {
    fn next_turn(&mut self, now: Nanos, rng: &mut Rng) -> Option<Turn> {
        let command = *self.commands.get(self.next)?;
        self.next += 1;
        let pause = rng.range(20, 2_000) * MILLISECOND;
        // A Ping hangs until mail arrives or the heartbeat (1 to 9 minutes) runs out.
        let server_delay = match command {
            Command::Ping => rng.range(20, 540) * SECOND,
            _ => rng.range(10, 120) * MILLISECOND,
        };
        let request = self.request(command, rng);
        let response = self.response(command, now + server_delay, rng);
        Some(Turn::exchange(
            pause,
            vec![request],
            server_delay,
            vec![response],
        ))
    }

    /// Phones lose their network (reset), close, or are timed out by the server.
    fn close(&self, rng: &mut Rng) -> Close {
        match rng.range(0, 9) {
            0..=3 => Close {
                after: rng.range(1, 60) * SECOND,
                by_client: true,
                reset: true,
            },
            4..=6 => Close {
                after: rng.range(1, 5) * SECOND,
                by_client: true,
                reset: false,
            },
            _ => Close {
                after: 120 * SECOND,
                by_client: false,
                reset: false,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::outbox::pieces_text;
    use crate::generate::time::CAPTURE_START;

    fn phone(kind: PhoneKind) -> Phone {
        Phone {
            user: "user7".into(),
            kind,
            device_id: [0xAB, 0xCD, 0xEF, 1, 2, 3, 4, 5],
        }
    }

    #[test]
    fn first_contact_provisions_then_syncs_and_pings() {
        let mut rng = Rng::new(4);
        let mut connection = ActiveSyncConnection::new(phone(PhoneKind::IPhone), 1, true, &mut rng);
        let turns: Vec<(Turn, String, String)> =
            std::iter::from_fn(|| connection.next_turn(CAPTURE_START, &mut rng))
                .map(|turn| {
                    let (client, server) = (
                        pieces_text(turn.client.clone()),
                        pieces_text(turn.server.clone()),
                    );
                    (turn, client, server)
                })
                .collect();
        assert!(turns[0]
            .1
            .starts_with("OPTIONS /Microsoft-Server-ActiveSync HTTP/1.1\r\n"));
        assert!(turns[0]
            .2
            .contains("MS-ASProtocolVersions: 2.0,2.1,2.5,12.0,12.1,14.0,14.1\r\n"));
        assert!(turns[1].1.starts_with(
            "POST /Microsoft-Server-ActiveSync?Cmd=Provision&User=user7&DeviceId=ApplABCDEF010203&DeviceType=iPhone HTTP/1.1\r\n"
        ));
        assert!(!turns[1].1.contains("X-MS-PolicyKey"));
        assert!(turns[3].1.contains("Cmd=FolderSync&"));
        assert!(turns[3].1.contains("X-MS-PolicyKey: 3942919513\r\n"));
        let authorization = format!("Authorization: {}\r\n", basic_authorization("user7"));
        assert!(turns
            .iter()
            .all(|(_, request, _)| request.contains(&authorization)));
        assert!(turns
            .iter()
            .all(|(_, _, response)| response.contains("X-FEServer: CAS02\r\n")));
        let pings: Vec<&(Turn, String, String)> = turns
            .iter()
            .filter(|(_, request, _)| request.contains("Cmd=Ping"))
            .collect();
        assert!(!pings.is_empty());
        for (turn, _, response) in pings {
            assert!(turn.server_delay >= 20 * SECOND);
            assert!(response.contains("Content-Length: 13\r\n"));
        }
    }

    #[test]
    fn windows_phones_use_the_base64_query() {
        let mut rng = Rng::new(4);
        let connection =
            ActiveSyncConnection::new(phone(PhoneKind::WindowsPhone), 0, false, &mut rng);
        let request = pieces_text(connection.request(Command::Sync, &mut rng));
        let target = request.split(' ').nth(1).unwrap();
        let query = target
            .strip_prefix("/Microsoft-Server-ActiveSync?")
            .unwrap();
        assert_eq!(eas::command(query).as_deref(), Some("Sync"));
        assert!(!request.contains("MS-ASProtocolVersion"));
    }
}
