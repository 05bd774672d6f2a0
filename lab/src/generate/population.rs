//! Who the clients are and where their packets come from, drawn once from the seed.
//!
//! Networks, as seen at the capture point:
//! - headquarters LAN: one address each in 10.101/16 (a sixth of them IPv6, 2001:db8:101::/64),
//!   frames tagged with VLAN 101, sub-millisecond round trips, plain HTTP to the VIP;
//! - branch offices: a few hundred users behind each office's NAT address (198.51.100.0/24),
//!   whose proxy adds `X-Forwarded-For` with the user's inner address; plain HTTP;
//! - home workers: one public address each, TLS to the VIP;
//! - carrier networks: phones behind carrier-grade NAT, fifty or so per public address, long
//!   and lossy round trips.
//!
//! Roles: OWA browsers, ActiveSync phones, Outlook Anywhere, and a few EWS applications.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::farm::{cas_by_source, BALANCER_MAC, BALANCER_SELF, ROUTER_MAC};
use super::mobile::Phone;
use super::tcp::{Impairments, Link};
use super::time::{Nanos, MICROSECOND, MILLISECOND};
use super::tls::SessionId;
use crate::eas::PhoneKind;
use crate::exchange::account;
use crate::rng::Rng;

const EPHEMERAL_PORTS: std::ops::RangeInclusive<u16> = 49_152..=65_535;
const USERS_PER_BRANCH: u32 = 300;
const PHONES_PER_CARRIER_ADDRESS: u32 = 50;
const LAN_VLAN: u16 = 101;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Network {
    Lan,
    Branch,
    Home,
    Carrier,
}

impl Network {
    /// Round trip range and the client's access rate.
    fn link(self, rng: &mut Rng) -> Link {
        let (low, high, client_rate_bps) = match self {
            Network::Lan => (200 * MICROSECOND, 1_500 * MICROSECOND, 1_000_000_000),
            Network::Branch => (15 * MILLISECOND, 60 * MILLISECOND, 50_000_000),
            Network::Home => (20 * MILLISECOND, 90 * MILLISECOND, 20_000_000),
            Network::Carrier => (40 * MILLISECOND, 200 * MILLISECOND, 10_000_000),
        };
        Link {
            rtt: rng.range(low, high),
            client_rate_bps,
        }
    }

    fn impairments(self) -> Impairments {
        match self {
            Network::Lan => Impairments {
                missed: 5,
                swapped: 20,
                retransmitted: 20,
            },
            Network::Branch | Network::Home => Impairments {
                missed: 30,
                swapped: 200,
                retransmitted: 300,
            },
            Network::Carrier => Impairments {
                missed: 60,
                swapped: 800,
                retransmitted: 1_500,
            },
        }
    }

    /// Hops between the client and the capture point, off Windows' TTL of 128 (phones: 64).
    fn ttl(self) -> u8 {
        match self {
            Network::Lan => 127,
            Network::Branch | Network::Home => 128 - 14,
            Network::Carrier => 64 - 18,
        }
    }
}

/// An address clients send from; shared by everyone behind a NAT.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    pub address: IpAddr,
    pub mac: [u8; 6],
    pub vlan: Option<u16>,
    pub ttl: u8,
    pub link: Link,
    pub impairments: Impairments,
    next_port: u16,
    /// NATs allocate ports at random, Windows in sequence.
    random_ports: bool,
    /// Ports of this address's live connections, never handed out twice.
    in_use: HashSet<u16>,
}

impl Source {
    fn new(network: Network, address: IpAddr, rng: &mut Rng) -> Source {
        let mac = match network {
            // On the captured VLAN the desktop's own MAC shows; everyone else comes via the router.
            Network::Lan => {
                let id = rng.next_u64().to_le_bytes();
                [0x00, 0x50, 0x56, id[0], id[1], id[2]]
            }
            _ => ROUTER_MAC,
        };
        Source {
            address,
            mac,
            vlan: (network == Network::Lan).then_some(LAN_VLAN),
            ttl: network.ttl(),
            link: network.link(rng),
            impairments: network.impairments(),
            next_port: first_port(rng),
            random_ports: matches!(network, Network::Branch | Network::Carrier),
            in_use: HashSet::new(),
        }
    }

    /// The balancer's own address, from which it probes the servers next to it.
    pub fn balancer(rng: &mut Rng) -> Source {
        Source {
            address: IpAddr::V4(BALANCER_SELF),
            mac: BALANCER_MAC,
            vlan: None,
            // BIG-IP's Linux host stack.
            ttl: 64,
            link: Link {
                rtt: 100 * MICROSECOND,
                client_rate_bps: 10_000_000_000,
            },
            impairments: Impairments::default(),
            next_port: first_port(rng),
            random_ports: false,
            in_use: HashSet::new(),
        }
    }

    /// The next free ephemeral port, wrapping within the range, held until released. (With
    /// every port in use, which needs 16 384 live connections from one address, one is
    /// shared.)
    pub fn allocate_port(&mut self, rng: &mut Rng) -> u16 {
        let span = EPHEMERAL_PORTS.end() - EPHEMERAL_PORTS.start() + 1;
        let mut port = self.next_port;
        for _ in 0..span {
            port = self.next_port;
            let step = if self.random_ports {
                rng.range(1, 97) as u16
            } else {
                1
            };
            self.next_port =
                EPHEMERAL_PORTS.start() + (port - EPHEMERAL_PORTS.start() + step) % span;
            if self.in_use.insert(port) {
                break;
            }
        }
        port
    }

    pub fn release_port(&mut self, port: u16) {
        self.in_use.remove(&port);
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Role {
    Browser,
    Phone(Phone),
    Outlook,
    EwsApp,
}

#[derive(Clone, Debug)]
pub struct User {
    pub name: String,
    pub role: Role,
    pub source: usize,
    /// The address the branch proxy reports in `X-Forwarded-For`.
    pub inner_address: Option<Ipv4Addr>,
    pub uses_tls: bool,
    /// The TLS session the client caches, for resumption by session id.
    pub tls_session: Option<SessionId>,
    /// The CAS the balancer persists the user to: by source for cookie-less clients, by the
    /// cookie the browser keeps for browsers.
    pub cas: usize,
    pub sessions: u32,
    pub live_connections: u32,
}

pub struct Population {
    pub users: Vec<User>,
    pub sources: Vec<Source>,
}

impl Population {
    pub fn new(clients: u32, rng: &mut Rng) -> Population {
        let mut population = Population {
            users: Vec::new(),
            sources: Vec::new(),
        };
        let mut shared = SharedSources::default();
        for number in 1..=clients {
            let role = draw_role(number, rng);
            let network = draw_network(&role, rng);
            let source = match network {
                Network::Branch => shared.branch(&mut population.sources, rng),
                Network::Carrier => shared.carrier(&mut population.sources, rng),
                Network::Lan | Network::Home => {
                    population.add_source(network, own_address(network, number, rng), rng)
                }
            };
            let address = population.sources[source].address;
            population.users.push(User {
                name: account(number),
                role,
                source,
                inner_address: (network == Network::Branch).then(|| inner_address(number)),
                uses_tls: network == Network::Home
                    || (network == Network::Carrier && rng.chance(30)),
                tls_session: None,
                cas: cas_by_source(address),
                sessions: 0,
                live_connections: 0,
            });
        }
        population
    }

    fn add_source(&mut self, network: Network, address: IpAddr, rng: &mut Rng) -> usize {
        self.sources.push(Source::new(network, address, rng));
        self.sources.len() - 1
    }
}

/// The current branch and carrier NAT addresses, filled up in turn.
#[derive(Default)]
struct SharedSources {
    branch: Option<(usize, u32)>,
    carrier: Option<(usize, u32)>,
    branches: u32,
    carriers: u32,
}

impl SharedSources {
    fn branch(&mut self, sources: &mut Vec<Source>, rng: &mut Rng) -> usize {
        shared_source(&mut self.branch, USERS_PER_BRANCH, sources, rng, || {
            self.branches += 1;
            (
                Network::Branch,
                IpAddr::V4(Ipv4Addr::new(198, 51, 100, (self.branches % 254 + 1) as u8)),
            )
        })
    }

    fn carrier(&mut self, sources: &mut Vec<Source>, rng: &mut Rng) -> usize {
        shared_source(
            &mut self.carrier,
            PHONES_PER_CARRIER_ADDRESS,
            sources,
            rng,
            || {
                self.carriers += 1;
                let [_, _, high, low] = self.carriers.to_be_bytes();
                (
                    Network::Carrier,
                    IpAddr::V4(Ipv4Addr::new(37, 120, high, low)),
                )
            },
        )
    }
}

/// The current shared source while it has room, else a new one from `make`.
fn shared_source(
    current: &mut Option<(usize, u32)>,
    capacity: u32,
    sources: &mut Vec<Source>,
    rng: &mut Rng,
    make: impl FnOnce() -> (Network, IpAddr),
) -> usize {
    match current {
        Some((index, members)) if *members < capacity => {
            *members += 1;
            *index
        }
        _ => {
            let (network, address) = make();
            sources.push(Source::new(network, address, rng));
            let index = sources.len() - 1;
            *current = Some((index, 1));
            index
        }
    }
}

/// 45 % browsers, 30 % phones, 20 % Outlook, 5 % EWS applications.
fn draw_role(number: u32, rng: &mut Rng) -> Role {
    match rng.range(0, 99) {
        0..=44 => Role::Browser,
        45..=74 => {
            let kind = match rng.range(0, 9) {
                0..=4 => PhoneKind::IPhone,
                5..=7 => PhoneKind::Android,
                _ => PhoneKind::WindowsPhone,
            };
            Role::Phone(Phone {
                user: account(number),
                kind,
                device_id: rng.bytes(),
            })
        }
        75..=94 => Role::Outlook,
        _ => Role::EwsApp,
    }
}

fn draw_network(role: &Role, rng: &mut Rng) -> Network {
    let roll = rng.range(0, 99);
    match role {
        Role::Browser if roll < 50 => Network::Lan,
        Role::Browser if roll < 80 => Network::Branch,
        Role::Browser => Network::Home,
        Role::Phone(_) if roll < 30 => Network::Lan,
        Role::Phone(_) => Network::Carrier,
        Role::Outlook if roll < 60 => Network::Lan,
        Role::Outlook => Network::Home,
        Role::EwsApp => Network::Lan,
    }
}

/// A LAN or home address derived from the user's number (unique per user).
fn own_address(network: Network, number: u32, rng: &mut Rng) -> IpAddr {
    let [_, high, mid, low] = number.to_be_bytes();
    match network {
        Network::Lan if rng.chance(16) => IpAddr::V6(Ipv6Addr::new(
            0x2001,
            0xdb8,
            0x101,
            0,
            0,
            0,
            u16::from_be_bytes([high, mid]),
            u16::from(low) + 0x100,
        )),
        Network::Lan => IpAddr::V4(Ipv4Addr::new(10, 101, mid.wrapping_add(high), low)),
        _ => IpAddr::V4(Ipv4Addr::new(81, high.wrapping_add(16), mid, low)),
    }
}

fn first_port(rng: &mut Rng) -> u16 {
    rng.range(
        u64::from(*EPHEMERAL_PORTS.start()),
        u64::from(*EPHEMERAL_PORTS.end()),
    ) as u16
}

fn inner_address(number: u32) -> Ipv4Addr {
    let [_, _, mid, low] = number.to_be_bytes();
    Ipv4Addr::new(172, 16, mid, low)
}

/// Mean time between sessions of a role (drawn uniformly up to twice this).
pub fn mean_pause_between_sessions(role: &Role) -> Nanos {
    const MINUTE: Nanos = 60 * super::time::SECOND;
    match role {
        Role::Browser => 10 * MINUTE,
        Role::Phone(_) => MINUTE,
        Role::Outlook => 15 * MINUTE,
        Role::EwsApp => 3 * MINUTE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn population_is_deterministic_and_mixed() {
        let build = |seed| Population::new(3_000, &mut Rng::new(seed));
        let (a, b) = (build(1), build(1));
        assert_eq!(a.sources, b.sources);
        assert_eq!(
            a.users.iter().map(|u| &u.name).collect::<Vec<_>>(),
            b.users.iter().map(|u| &u.name).collect::<Vec<_>>()
        );
        assert_ne!(build(2).sources, a.sources);
        let count = |f: &dyn Fn(&User) -> bool| a.users.iter().filter(|u| f(u)).count();
        assert!(count(&|u| u.role == Role::Browser) > 1_000);
        assert!(count(&|u| matches!(u.role, Role::Phone(_))) > 600);
        assert!(count(&|u| u.role == Role::Outlook) > 300);
        assert!(count(&|u| u.uses_tls) > 200);
        assert!(count(&|u| u.inner_address.is_some()) > 200);
        assert!(a
            .sources
            .iter()
            .any(|s| s.address.is_ipv6() && s.vlan == Some(LAN_VLAN)));
        assert!(a.sources.iter().any(|s| s.vlan.is_none()));
    }

    #[test]
    fn nat_groups_share_one_address() {
        let population = Population::new(3_000, &mut Rng::new(1));
        let mut per_source = vec![0u32; population.sources.len()];
        for user in &population.users {
            per_source[user.source] += 1;
        }
        let largest = per_source.iter().max().copied().unwrap_or(0);
        assert!((USERS_PER_BRANCH / 2..=USERS_PER_BRANCH).contains(&largest));
        assert!(population.sources.len() < population.users.len());
        // Users behind one address all persist to its CAS.
        for user in &population.users {
            assert_eq!(
                user.cas,
                cas_by_source(population.sources[user.source].address)
            );
        }
    }

    #[test]
    fn ports_wrap_inside_the_ephemeral_range() {
        let mut rng = Rng::new(1);
        let mut source = Source::new(
            Network::Lan,
            IpAddr::V4(Ipv4Addr::new(10, 101, 0, 1)),
            &mut rng,
        );
        source.next_port = 65_535;
        assert_eq!(source.allocate_port(&mut rng), 65_535);
        assert_eq!(source.allocate_port(&mut rng), 49_152);
        let mut nat = Source::new(
            Network::Carrier,
            IpAddr::V4(Ipv4Addr::new(37, 120, 0, 1)),
            &mut rng,
        );
        let mut live: Vec<u16> = (0..10_000).map(|_| nat.allocate_port(&mut rng)).collect();
        assert!(live.iter().all(|port| EPHEMERAL_PORTS.contains(port)));
        // Ports in use are never handed out again; released ones are.
        let released = live.pop().unwrap();
        nat.release_port(released);
        let more: Vec<u16> = (0..6_000).map(|_| nat.allocate_port(&mut rng)).collect();
        live.extend(more);
        let mut distinct = live.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), live.len());
        assert!(live.contains(&released));
    }
}
