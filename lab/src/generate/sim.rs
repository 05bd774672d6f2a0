//! The scheduler: users start sessions (one to three connections each), connections are
//! stepped in time order from a priority queue of next-step times, and the balancer probes
//! every CAS every few seconds. When all of a user's connections are closed, the user pauses
//! and starts a new session, so the number of live connections — hence memory — depends on the
//! number of clients, never on how long the simulation runs.
//!
//! Everything is deterministic: one generator seeded from the seed, events ordered by time
//! then by scheduling order.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::IpAddr;
use std::rc::Rc;

use super::connection::{Connection, Progress};
use super::farm::{
    cas_address, cas_mac, BALANCER_MAC, BALANCER_SELF, CAS_NAMES, HTTPS_PORT, HTTP_PORT, VIP_V4,
    VIP_V6,
};
use super::frame::{Addresses, Path};
use super::mobile::ActiveSyncConnection;
use super::outlook::{Channel, DiscoveryConnection, OutlookSession, RpcChannel};
use super::owa::{ticket_for, OwaConnection, OwaSession};
use super::population::{mean_pause_between_sessions, Population, Role, Source, User};
use super::queue::PacketQueue;
use super::script::Script;
use super::services::{EwsConnection, HealthProbe};
use super::tcp::TcpFlow;
use super::time::{Nanos, CAPTURE_START, MILLISECOND, SECOND};
use super::tls::Handshake;
use crate::rng::Rng;

/// Users start their first session within this time of the capture's start.
const RAMP_UP: Nanos = 60 * SECOND;
/// F5's default HTTP monitor interval.
const PROBE_INTERVAL: Nanos = 5 * SECOND;
/// A browser that still holds the balancer cookie from its previous session, in percent.
const KEEPS_LB_COOKIE: u64 = 70;
/// A client with a cached TLS session offers it, in percent (else the cache expired).
const OFFERS_TLS_SESSION: u64 = 85;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    StartSession(usize),
    Step(usize),
    Probe(usize),
}

struct Live {
    owner: Option<usize>,
    /// The source (index in the population's sources) and port, released at the close.
    source: usize,
    port: u16,
    connection: Connection,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub sessions: u64,
    pub connections: u64,
    pub peak_live_connections: usize,
}

pub struct Simulation {
    population: Population,
    /// The balancer's own source, for its probes.
    balancer: usize,
    live: Vec<Option<Live>>,
    free_slots: Vec<usize>,
    live_count: usize,
    events: BinaryHeap<Reverse<(Nanos, u64, Event)>>,
    scheduled: u64,
    rng: Rng,
    scratch: Vec<u8>,
    pub packets: PacketQueue,
    pub stats: Stats,
}

impl Simulation {
    pub fn new(seed: u64, clients: u32) -> Simulation {
        let mut rng = Rng::new(seed);
        let mut population = Population::new(clients, &mut rng.fork());
        population.sources.push(Source::balancer(&mut rng));
        let balancer = population.sources.len() - 1;
        let mut simulation = Simulation {
            population,
            balancer,
            live: Vec::new(),
            free_slots: Vec::new(),
            live_count: 0,
            events: BinaryHeap::new(),
            scheduled: 0,
            rng,
            scratch: Vec::new(),
            packets: PacketQueue::default(),
            stats: Stats::default(),
        };
        for user in 0..simulation.population.users.len() {
            let start = CAPTURE_START + simulation.rng.range(0, RAMP_UP);
            simulation.schedule(start, Event::StartSession(user));
        }
        for cas in 0..CAS_NAMES.len() {
            let first = CAPTURE_START + simulation.rng.range(0, PROBE_INTERVAL);
            simulation.schedule(first, Event::Probe(cas));
        }
        simulation
    }

    /// Runs the earliest event. Returns the time before which every packet has been queued:
    /// no later event emits anything earlier.
    pub fn advance(&mut self) -> Nanos {
        if let Some(Reverse((time, _, event))) = self.events.pop() {
            match event {
                Event::StartSession(user) => self.start_session(user, time),
                Event::Step(slot) => self.step(slot, time),
                Event::Probe(cas) => self.probe(cas, time),
            }
        }
        self.events
            .peek()
            .map_or(Nanos::MAX, |Reverse((time, _, _))| *time)
    }

    fn schedule(&mut self, time: Nanos, event: Event) {
        self.events.push(Reverse((time, self.scheduled, event)));
        self.scheduled += 1;
    }

    fn step(&mut self, slot: usize, now: Nanos) {
        let Some(live) = self.live.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        match live
            .connection
            .step(now, &mut self.packets, &mut self.scratch)
        {
            Progress::WakeAt(time) => self.schedule(time, Event::Step(slot)),
            Progress::Finished => {
                let (owner, source, port) = (live.owner, live.source, live.port);
                if let Some(source) = self.population.sources.get_mut(source) {
                    source.release_port(port);
                }
                self.live[slot] = None;
                self.free_slots.push(slot);
                self.live_count -= 1;
                if let Some(user) = owner {
                    self.connection_closed(user, now);
                }
            }
        }
    }

    /// When a user's last connection closes, the user's next session is scheduled.
    fn connection_closed(&mut self, user: usize, now: Nanos) {
        let Some(record) = self.population.users.get_mut(user) else {
            return;
        };
        record.live_connections = record.live_connections.saturating_sub(1);
        if record.live_connections == 0 {
            let pause = self
                .rng
                .range(0, 2 * mean_pause_between_sessions(&record.role));
            self.schedule(now + pause, Event::StartSession(user));
        }
    }

    fn probe(&mut self, cas: usize, now: Nanos) {
        let Some(balancer) = self.population.sources.get_mut(self.balancer) else {
            return;
        };
        let path = Path {
            client_mac: balancer.mac,
            server_mac: cas_mac(cas),
            vlan: None,
            addresses: Addresses::V4 {
                client: BALANCER_SELF.octets(),
                server: cas_address(cas).octets(),
            },
            client_port: balancer.allocate_port(&mut self.rng),
            server_port: HTTP_PORT,
            client_ttl: balancer.ttl,
        };
        let flow = TcpFlow::new(path, balancer.link, balancer.impairments, self.rng.fork());
        let connection =
            Connection::new(flow, Box::new(HealthProbe::new(cas)), None, self.rng.fork());
        self.add(now, None, self.balancer, connection);
        let next = now + PROBE_INTERVAL - 250 * MILLISECOND + self.rng.range(0, 500) * MILLISECOND;
        self.schedule(next, Event::Probe(cas));
    }

    fn start_session(&mut self, user: usize, now: Nanos) {
        self.stats.sessions += 1;
        let Some(record) = self.population.users.get_mut(user) else {
            return;
        };
        let plans = session_plan(record, now, &mut self.rng);
        for (start, script) in plans {
            self.open_for_user(user, start, script);
        }
    }

    /// A connection from the user's source to the VIP, TLS if the user uses it.
    fn open_for_user(&mut self, user: usize, start: Nanos, script: Box<dyn Script>) {
        let Some(record) = self.population.users.get_mut(user) else {
            return;
        };
        let source_index = record.source;
        let Some(source) = self.population.sources.get_mut(source_index) else {
            return;
        };
        let vip = match source.address {
            IpAddr::V4(_) => IpAddr::V4(VIP_V4),
            IpAddr::V6(_) => IpAddr::V6(VIP_V6),
        };
        let Some(addresses) = Addresses::new(source.address, vip) else {
            return;
        };
        let path = Path {
            client_mac: source.mac,
            server_mac: BALANCER_MAC,
            vlan: source.vlan,
            addresses,
            client_port: source.allocate_port(&mut self.rng),
            server_port: if record.uses_tls {
                HTTPS_PORT
            } else {
                HTTP_PORT
            },
            client_ttl: source.ttl,
        };
        let flow = TcpFlow::new(path, source.link, source.impairments, self.rng.fork());
        let handshake = record.uses_tls.then(|| {
            let resume = record
                .tls_session
                .filter(|_| self.rng.chance(OFFERS_TLS_SESSION));
            let handshake = Handshake::new(&mut self.rng, resume);
            record.tls_session = Some(handshake.session);
            handshake
        });
        record.live_connections += 1;
        let connection = Connection::new(flow, script, handshake, self.rng.fork());
        self.add(start, Some(user), source_index, connection);
    }

    fn add(&mut self, start: Nanos, owner: Option<usize>, source: usize, connection: Connection) {
        let live = Some(Live {
            owner,
            source,
            port: connection.client_port(),
            connection,
        });
        let slot = match self.free_slots.pop() {
            Some(slot) => {
                self.live[slot] = live;
                slot
            }
            None => {
                self.live.push(live);
                self.live.len() - 1
            }
        };
        self.live_count += 1;
        self.stats.connections += 1;
        self.stats.peak_live_connections = self.stats.peak_live_connections.max(self.live_count);
        self.schedule(start, Event::Step(slot));
    }
}

/// The connections of a user's next session: when each starts and what it does.
fn session_plan(user: &mut User, now: Nanos, rng: &mut Rng) -> Vec<(Nanos, Box<dyn Script>)> {
    user.sessions += 1;
    match &user.role {
        Role::Browser => {
            let has_lb_cookie = user.sessions > 1 && rng.chance(KEEPS_LB_COOKIE);
            if !has_lb_cookie {
                user.cas = rng.range(0, CAS_NAMES.len() as u64 - 1) as usize;
            }
            let session = Rc::new(OwaSession {
                ticket: ticket_for(&user.name, user.cas, user.sessions),
                cas: user.cas,
                forwarded_for: user.inner_address,
                has_lb_cookie,
                cached_resources: user.sessions > 1,
            });
            let work = rng.range(3, 25) as usize;
            let mut plans: Vec<(Nanos, Box<dyn Script>)> = vec![(
                now,
                Box::new(OwaConnection::logon(Rc::clone(&session), rng, work)),
            )];
            // Parallel connections open once the logon is done.
            for _ in 0..rng.range(0, 2) {
                let start = now + rng.range(20, 40) * SECOND;
                let work = rng.range(2, 20) as usize;
                plans.push((
                    start,
                    Box::new(OwaConnection::parallel(Rc::clone(&session), rng, work)),
                ));
            }
            plans
        }
        Role::Phone(phone) => {
            let first_contact = user.sessions == 1 && rng.chance(10);
            vec![(
                now,
                Box::new(ActiveSyncConnection::new(
                    phone.clone(),
                    user.cas,
                    first_contact,
                    rng,
                )),
            )]
        }
        Role::Outlook => {
            let session = OutlookSession {
                user: user.name.clone(),
                cas: user.cas,
                virtual_connection: rng.bytes(),
            };
            let channels = now + rng.range(2, 5) * SECOND;
            vec![
                (
                    now,
                    Box::new(DiscoveryConnection::new(session.clone(), rng)),
                ),
                (
                    channels,
                    Box::new(RpcChannel::new(session.clone(), Channel::In, rng)),
                ),
                (
                    channels + 20 * MILLISECOND,
                    Box::new(RpcChannel::new(session, Channel::Out, rng)),
                ),
            ]
        }
        Role::EwsApp => vec![(
            now,
            Box::new(EwsConnection::new(user.name.clone(), user.cas, rng)),
        )],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs a simulation until `packets` frames were written in order; returns their times.
    fn packet_times(seed: u64, clients: u32, packets: usize) -> Vec<Nanos> {
        let mut simulation = Simulation::new(seed, clients);
        let mut times = Vec::new();
        while times.len() < packets {
            let horizon = simulation.advance();
            while let Some((time, frame)) = simulation.packets.pop_due(horizon) {
                times.push(time);
                simulation.packets.recycle(frame);
            }
        }
        times
    }

    #[test]
    fn packets_come_out_in_time_order() {
        let times = packet_times(3, 200, 50_000);
        assert!(times.windows(2).all(|pair| pair[0] <= pair[1]));
        assert!(times[0] >= CAPTURE_START);
    }

    #[test]
    fn sessions_recur_and_connections_are_bounded_by_clients() {
        let mut simulation = Simulation::new(5, 50);
        // Two simulated hours.
        while simulation.advance() < CAPTURE_START + 7_200 * SECOND {
            while let Some((_, frame)) = simulation.packets.pop_due(Nanos::MAX) {
                simulation.packets.recycle(frame);
            }
        }
        let stats = &simulation.stats;
        assert!(stats.sessions > 100, "{stats:?}");
        // At most three connections per user session, plus the probes.
        assert!(
            stats.peak_live_connections <= 3 * 50 + CAS_NAMES.len() * 2,
            "{stats:?}"
        );
        assert!(simulation.live.len() <= stats.peak_live_connections);
        // A browser's session ends with its last connection, then a new one starts: never two
        // sessions' connections at once beyond the plan's three.
        assert!(simulation
            .population
            .users
            .iter()
            .all(|user| user.live_connections <= 3));
    }
}
