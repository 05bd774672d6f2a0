//! What the simulated clients do, decided entirely by the scenario and the seed before any
//! thread starts: who connects, from which 127/8 address, when, and which requests.
//!
//! Addresses: user N's desktop is 127.0.1.(10+N); users 4–6 sit behind one NAT address,
//! 127.0.2.1; EWS applications use 127.0.1.(50+k); phone k roams between Wi-Fi 127.0.3.(10+k)
//! and a carrier 127.0.4.(10+k); TLS-resuming clients use 127.0.1.(70+k). A source pool
//! (`--source-ips`, or the `source-nat` scenario's two NAT addresses) replaces the desktop,
//! EWS and Outlook addresses, dealt out in turn.

use std::net::Ipv4Addr;
use std::time::Duration;

use super::net::Transport;
use crate::eas::PhoneKind;
use crate::exchange::account;
use crate::rng::Rng;

/// The scenarios of `lab/scenarios/`; they differ in HAProxy's configuration, and for the
/// clients only in transport, default source pool, and (tls-passthrough) workload.
pub const SCENARIOS: [&str; 9] = [
    "cookie-insert",
    "roundrobin",
    "source-nat",
    "tls-terminated",
    "tls-passthrough",
    "failover",
    "drain",
    "http-server-close",
    "httpclose",
];

/// The two NAT addresses every desktop hides behind in `source-nat`.
const NAT_POOL: [Ipv4Addr; 2] = [Ipv4Addr::new(127, 0, 2, 1), Ipv4Addr::new(127, 0, 2, 2)];
const SHARED_NAT: Ipv4Addr = Ipv4Addr::new(127, 0, 2, 1);
/// OWA users 4..=6 share `SHARED_NAT` (an office behind one address).
const NATTED_USERS: std::ops::RangeInclusive<u32> = 4..=6;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    /// OWA/ECP browsers, EWS applications, ActiveSync phones and Outlook Anywhere.
    Exchange,
    /// TLS connections, some resuming their session: persistence on the SSL session ID.
    TlsResumption,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step<A> {
    pub pause: Duration,
    pub action: A,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OwaPage {
    Folder,
    Item(u32),
    Poll,
    Attachment(u32),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OwaAction {
    /// Versioned static files, pipelined.
    Resources(Vec<&'static str>),
    /// Application requests (need the session), pipelined.
    Pages(Vec<OwaPage>),
    /// The Options link: ECP page then one of its web services.
    ControlPanel,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Browser {
    pub user: String,
    pub from: Ipv4Addr,
    pub start: Duration,
    /// One action list per parallel keep-alive connection.
    pub connections: Vec<Vec<Step<OwaAction>>>,
    pub logs_off: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PhoneStep {
    /// `Options` for the OPTIONS request, else an ActiveSync command.
    pub command: &'static str,
    /// Index in `Phone::addresses`; a change means a new connection from the new network.
    pub network: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Phone {
    pub user: String,
    pub kind: PhoneKind,
    pub device_id: [u8; 8],
    pub networks: Vec<Ipv4Addr>,
    pub start: Duration,
    pub steps: Vec<Step<PhoneStep>>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EwsClient {
    pub user: String,
    pub from: Ipv4Addr,
    pub start: Duration,
    pub calls: Vec<Step<&'static str>>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outlook {
    pub user: String,
    pub from: Ipv4Addr,
    pub start: Duration,
    /// How long the RPC channels stay open once joined.
    pub channel_time: Duration,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resumer {
    pub from: Ipv4Addr,
    pub start: Duration,
    pub resumes: bool,
    /// Pause before each connection.
    pub connections: Vec<Duration>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub browsers: Vec<Browser>,
    pub ews: Vec<EwsClient>,
    pub phones: Vec<Phone>,
    pub outlooks: Vec<Outlook>,
    pub resumers: Vec<Resumer>,
}

pub fn transport(scenario: &str) -> Transport {
    match scenario {
        "tls-terminated" => Transport::Tls { tls12_only: false },
        "tls-passthrough" => Transport::Tls { tls12_only: true },
        _ => Transport::Plain,
    }
}

pub fn workload(scenario: &str) -> Workload {
    if scenario == "tls-passthrough" {
        Workload::TlsResumption
    } else {
        Workload::Exchange
    }
}

/// The source pool a scenario uses when `--source-ips` is not given.
pub fn default_pool(scenario: &str) -> Option<Vec<Ipv4Addr>> {
    (scenario == "source-nat").then(|| NAT_POOL.to_vec())
}

/// Deals desktop addresses: from the pool in turn, else the given default.
struct Addresses {
    pool: Option<Vec<Ipv4Addr>>,
    dealt: usize,
}

impl Addresses {
    fn desktop(&mut self, default: Ipv4Addr) -> Ipv4Addr {
        match self.pool.as_deref() {
            Some(pool) if !pool.is_empty() => {
                self.dealt += 1;
                pool[(self.dealt - 1) % pool.len()]
            }
            _ => default,
        }
    }
}

fn millis(rng: &mut Rng, low: u64, high: u64) -> Duration {
    Duration::from_millis(rng.range(low, high))
}

fn host(third: u8, fourth: u32) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, third, u8::try_from(fourth).unwrap_or(u8::MAX))
}

impl Plan {
    pub fn build(workload: Workload, seed: u64, pool: Option<Vec<Ipv4Addr>>) -> Plan {
        let mut rng = Rng::new(seed);
        let mut addresses = Addresses { pool, dealt: 0 };
        match workload {
            Workload::Exchange => Plan {
                browsers: (1..=6)
                    .map(|user| browser(&mut rng.fork(), user, &mut addresses))
                    .collect(),
                ews: (7..=8)
                    .map(|user| ews_client(&mut rng.fork(), user, &mut addresses))
                    .collect(),
                phones: [
                    (1, PhoneKind::IPhone),
                    (2, PhoneKind::Android),
                    (3, PhoneKind::WindowsPhone),
                ]
                .into_iter()
                .enumerate()
                .map(|(index, (user, kind))| phone(&mut rng.fork(), user, kind, index as u32))
                .collect(),
                outlooks: [3, 5]
                    .into_iter()
                    .map(|user| outlook(&mut rng.fork(), user, &mut addresses))
                    .collect(),
                resumers: Vec::new(),
            },
            Workload::TlsResumption => Plan {
                resumers: (0..6)
                    .map(|index| resumer(&mut rng.fork(), index, index < 4, &mut addresses))
                    .collect(),
                ..Plan::default()
            },
        }
    }
}

fn desktop_of(user: u32) -> Ipv4Addr {
    if NATTED_USERS.contains(&user) {
        SHARED_NAT
    } else {
        host(1, 10 + user)
    }
}

const APP_RESOURCES: [&str; 6] = [
    "scripts/premium/uglobal.js",
    "scripts/premium/uview.js",
    "themes/base/premium.css",
    "themes/resources/clear1x1.gif",
    "themes/base/sprites.png",
    "themes/resources/favicon.ico",
];

fn browser(rng: &mut Rng, user: u32, addresses: &mut Addresses) -> Browser {
    let start = millis(rng, 0, 5000);
    let from = addresses.desktop(desktop_of(user));
    let visits_options = rng.chance(40);
    let connection_count = rng.range(2, 4) as usize;
    let connections = (0..connection_count)
        .map(|index| {
            let mut steps: Vec<Step<OwaAction>> = (0..rng.range(2, 4))
                .map(|_| Step {
                    pause: millis(rng, 150, 700),
                    action: owa_action(rng),
                })
                .collect();
            if index == 0 && visits_options {
                steps.push(Step {
                    pause: millis(rng, 150, 700),
                    action: OwaAction::ControlPanel,
                });
            }
            steps
        })
        .collect();
    Browser {
        user: account(user),
        from,
        start,
        connections,
        logs_off: rng.chance(50),
    }
}

fn owa_action(rng: &mut Rng) -> OwaAction {
    match rng.range(0, 5) {
        0 => {
            let first = rng.range(0, APP_RESOURCES.len() as u64 - 1) as usize;
            let count = rng.range(2, 3) as usize;
            OwaAction::Resources(
                APP_RESOURCES
                    .iter()
                    .cycle()
                    .skip(first)
                    .take(count)
                    .copied()
                    .collect(),
            )
        }
        1 => OwaAction::Pages(vec![
            OwaPage::Folder,
            OwaPage::Item(rng.range(1, 500) as u32),
        ]),
        2 => OwaAction::Pages(vec![OwaPage::Poll]),
        3 => OwaAction::Pages(vec![OwaPage::Attachment(rng.range(1, 500) as u32)]),
        _ => OwaAction::Pages(vec![OwaPage::Item(rng.range(1, 500) as u32)]),
    }
}

const EWS_ACTIONS: [&str; 4] = ["GetFolder", "FindItem", "SyncFolderItems", "GetItem"];

fn ews_client(rng: &mut Rng, user: u32, addresses: &mut Addresses) -> EwsClient {
    let start = millis(rng, 0, 4000);
    let from = addresses.desktop(host(1, 50 + user));
    let calls = (0..rng.range(4, 6))
        .map(|_| Step {
            pause: millis(rng, 300, 900),
            action: EWS_ACTIONS[rng.range(0, 3) as usize],
        })
        .collect();
    EwsClient {
        user: account(user),
        from,
        start,
        calls,
    }
}

fn phone(rng: &mut Rng, user: u32, kind: PhoneKind, index: u32) -> Phone {
    let networks = vec![host(3, 10 + index), host(4, 10 + index)];
    let mut commands = vec!["Options", "Provision", "FolderSync"];
    commands.extend((0..rng.range(2, 3)).map(|_| "Sync"));
    commands.extend(["Ping", "Sync"]);
    let mut network = 0;
    let steps = commands
        .into_iter()
        .map(|command| {
            if rng.chance(50) {
                network = (network + 1) % networks.len();
            }
            Step {
                pause: millis(rng, 200, 800),
                action: PhoneStep { command, network },
            }
        })
        .collect();
    Phone {
        user: account(user),
        kind,
        device_id: rng.bytes(),
        networks,
        start: millis(rng, 0, 4000),
        steps,
    }
}

fn outlook(rng: &mut Rng, user: u32, addresses: &mut Addresses) -> Outlook {
    let from = addresses.desktop(desktop_of(user));
    Outlook {
        user: account(user),
        from,
        start: millis(rng, 500, 3000),
        channel_time: millis(rng, 2500, 4000),
    }
}

fn resumer(rng: &mut Rng, index: u32, resumes: bool, addresses: &mut Addresses) -> Resumer {
    let from = addresses.desktop(host(1, 70 + index));
    let connections = (0..rng.range(4, 6))
        .map(|_| millis(rng, 200, 800))
        .collect();
    Resumer {
        from,
        start: millis(rng, 0, 2000),
        resumes,
        connections,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_plan_other_seed_other_plan() {
        let plan = Plan::build(Workload::Exchange, 7, None);
        assert_eq!(plan, Plan::build(Workload::Exchange, 7, None));
        assert_ne!(plan, Plan::build(Workload::Exchange, 8, None));
    }

    #[test]
    fn exchange_plan_has_every_kind_of_client() {
        let plan = Plan::build(Workload::Exchange, 1, None);
        assert_eq!(
            (
                plan.browsers.len(),
                plan.ews.len(),
                plan.phones.len(),
                plan.outlooks.len(),
                plan.resumers.len()
            ),
            (6, 2, 3, 2, 0)
        );
        for browser in &plan.browsers {
            assert!((2..=4).contains(&browser.connections.len()));
            assert!(browser.start <= Duration::from_secs(5));
        }
        assert_eq!(plan.browsers[0].from, Ipv4Addr::new(127, 0, 1, 11));
        let natted: Vec<&str> = plan
            .browsers
            .iter()
            .filter(|b| b.from == SHARED_NAT)
            .map(|b| b.user.as_str())
            .collect();
        assert_eq!(natted, ["user4", "user5", "user6"]);
        assert_eq!(plan.outlooks[1].from, SHARED_NAT);
        assert_eq!(plan.phones[2].kind, PhoneKind::WindowsPhone);
        assert_eq!(
            plan.phones[2].networks,
            [Ipv4Addr::new(127, 0, 3, 12), Ipv4Addr::new(127, 0, 4, 12)]
        );
        assert_eq!(plan.phones[0].steps[0].action.command, "Options");
    }

    #[test]
    fn source_pool_replaces_desktop_addresses_in_turn() {
        let plan = Plan::build(Workload::Exchange, 1, default_pool("source-nat"));
        let froms: Vec<Ipv4Addr> = plan
            .browsers
            .iter()
            .map(|b| b.from)
            .chain(plan.ews.iter().map(|e| e.from))
            .collect();
        let expected: Vec<Ipv4Addr> = (0..8).map(|i| NAT_POOL[i % 2]).collect();
        assert_eq!(froms, expected);
        assert!(plan
            .phones
            .iter()
            .all(|p| !p.networks.contains(&NAT_POOL[0])));
    }

    #[test]
    fn tls_resumption_plan() {
        let plan = Plan::build(Workload::TlsResumption, 3, None);
        assert!(plan.browsers.is_empty());
        let resuming: Vec<bool> = plan.resumers.iter().map(|r| r.resumes).collect();
        assert_eq!(resuming, [true, true, true, true, false, false]);
        assert_eq!(plan.resumers[5].from, Ipv4Addr::new(127, 0, 1, 75));
    }

    #[test]
    fn scenarios_map_to_transport_and_workload() {
        assert!(matches!(
            transport("tls-terminated"),
            Transport::Tls { tls12_only: false }
        ));
        assert!(matches!(
            transport("tls-passthrough"),
            Transport::Tls { tls12_only: true }
        ));
        assert!(matches!(transport("roundrobin"), Transport::Plain));
        assert_eq!(workload("tls-passthrough"), Workload::TlsResumption);
        assert_eq!(workload("drain"), Workload::Exchange);
        assert_eq!(default_pool("cookie-insert"), None);
    }
}
