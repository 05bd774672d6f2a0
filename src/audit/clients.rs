//! Client addresses: who sits behind each one, and whether it tilts the farm's balance (a NAT
//! hot-spot).
//!
//! The address of a transaction is its original client (`X-Forwarded-For`) when a proxy wrote
//! one, else the connection's client. Per address: distinct users (Authorization, ActiveSync
//! `User`, OWA logon name), ActiveSync devices, sessions, transactions and bytes, and the
//! transactions per server.
//!
//! The hot-spot measure ([`HotspotThresholds`]), with n servers taking user traffic: an address
//! is a hot-spot when it carries at least `min_users` users, and some server S takes more than
//! `(1 + tilt) / n` of all transactions (its even split plus `tilt` of it) while this address
//! alone sends at least `min_share` of S's transactions. With the defaults (4 users, 25 %, half),
//! per-user balancing would put four users on one of three servers by chance once in 27 times.

use std::collections::{HashMap, HashSet};

use super::identity::ServerId;
use super::sessions::SessionRef;

/// The thresholds of the hot-spot flag.
#[derive(Clone, Debug, PartialEq)]
pub struct HotspotThresholds {
    pub min_users: u64,
    pub tilt: f64,
    pub min_share: f64,
}

impl Default for HotspotThresholds {
    fn default() -> Self {
        HotspotThresholds { min_users: 4, tilt: 0.25, min_share: 0.5 }
    }
}

#[derive(Clone, Debug, Default)]
struct ClientTrack {
    users: HashSet<String>,
    devices: HashSet<String>,
    sessions: HashSet<SessionRef>,
    transactions: u64,
    bytes: u64,
    per_server: HashMap<ServerId, u64>,
}

/// One transaction as a client address's ledger sees it.
pub struct ClientObservation<'a> {
    pub user: Option<&'a str>,
    pub device: Option<&'a str>,
    pub session: Option<SessionRef>,
    pub server: Option<ServerId>,
    pub bytes: u64,
}

/// Every client address seen.
#[derive(Debug, Default)]
pub struct ClientLedger {
    clients: HashMap<String, ClientTrack>,
}

impl ClientLedger {
    pub fn observe(&mut self, address: &str, obs: &ClientObservation<'_>) {
        let track = match self.clients.get_mut(address) {
            Some(track) => track,
            None => self.clients.entry(address.to_owned()).or_default(),
        };
        track.transactions += 1;
        track.bytes = track.bytes.saturating_add(obs.bytes);
        if let Some(user) = obs.user {
            if !track.users.contains(user) {
                track.users.insert(user.to_owned());
            }
        }
        if let Some(device) = obs.device {
            if !track.devices.contains(device) {
                track.devices.insert(device.to_owned());
            }
        }
        if let Some(session) = obs.session {
            track.sessions.insert(session);
        }
        if let Some(server) = obs.server {
            *track.per_server.entry(server).or_default() += 1;
        }
    }

    /// Every client with its figures in final server identities, busiest first (then by
    /// address).
    pub fn report(&self, canonical: impl Fn(ServerId) -> Option<ServerId>, thresholds: &HotspotThresholds) -> Vec<ClientReport> {
        let per_client: Vec<(&String, &ClientTrack, HashMap<ServerId, u64>)> = self
            .clients
            .iter()
            .map(|(address, track)| {
                let mut loads: HashMap<ServerId, u64> = HashMap::new();
                for (&raw, &n) in &track.per_server {
                    if let Some(id) = canonical(raw) {
                        *loads.entry(id).or_default() += n;
                    }
                }
                (address, track, loads)
            })
            .collect();
        let mut server_totals: HashMap<ServerId, u64> = HashMap::new();
        for (_, _, loads) in &per_client {
            for (&id, &n) in loads {
                *server_totals.entry(id).or_default() += n;
            }
        }
        let farm_total: u64 = server_totals.values().sum();
        let servers = server_totals.len();
        let mut reports: Vec<ClientReport> = per_client
            .into_iter()
            .map(|(address, track, loads)| {
                let mut shares: Vec<ServerShare> = loads
                    .iter()
                    .map(|(&server, &n)| {
                        let server_total = server_totals.get(&server).copied().unwrap_or(0);
                        ServerShare {
                            server,
                            transactions: n,
                            share_of_server: ratio(n, server_total),
                            server_share_of_farm: ratio(server_total, farm_total),
                        }
                    })
                    .collect();
                shares.sort_by(|a, b| b.transactions.cmp(&a.transactions).then(a.server.cmp(&b.server)));
                let users = track.users.len() as u64;
                let hotspot = shares.iter().find(|s| {
                    users >= thresholds.min_users
                        && servers > 1
                        && s.server_share_of_farm > (1.0 + thresholds.tilt) / servers as f64
                        && s.share_of_server >= thresholds.min_share
                });
                let hotspot_reason = hotspot.map(|s| HotspotReason {
                    server: s.server,
                    share_of_server: s.share_of_server,
                    server_share_of_farm: s.server_share_of_farm,
                    even_share: 1.0 / servers as f64,
                });
                let mut user_list: Vec<String> = track.users.iter().cloned().collect();
                user_list.sort_unstable();
                ClientReport {
                    address: address.clone(),
                    users: user_list,
                    devices: track.devices.len() as u64,
                    sessions: track.sessions.len() as u64,
                    transactions: track.transactions,
                    bytes: track.bytes,
                    shares,
                    hotspot: hotspot_reason,
                }
            })
            .collect();
        reports.sort_by(|a, b| b.transactions.cmp(&a.transactions).then_with(|| a.address.cmp(&b.address)));
        reports
    }
}

fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// A client's transactions on one server.
#[derive(Clone, Debug, PartialEq)]
pub struct ServerShare {
    pub server: ServerId,
    pub transactions: u64,
    /// Of the server's transactions, the share from this client.
    pub share_of_server: f64,
    /// Of the farm's transactions, the share the server took.
    pub server_share_of_farm: f64,
}

/// Why a client is a hot-spot.
#[derive(Clone, Debug, PartialEq)]
pub struct HotspotReason {
    pub server: ServerId,
    pub share_of_server: f64,
    pub server_share_of_farm: f64,
    pub even_share: f64,
}

/// A client address in the report.
#[derive(Clone, Debug, PartialEq)]
pub struct ClientReport {
    pub address: String,
    pub users: Vec<String>,
    pub devices: u64,
    pub sessions: u64,
    pub transactions: u64,
    pub bytes: u64,
    /// Busiest server first.
    pub shares: Vec<ServerShare>,
    pub hotspot: Option<HotspotReason>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn observe(ledger: &mut ClientLedger, address: &str, user: &str, server: u32, n: u32) {
        for _ in 0..n {
            let obs = ClientObservation { user: Some(user), device: None, session: Some(SessionRef(1)), server: Some(ServerId::test(server)), bytes: 5 };
            ledger.observe(address, &obs);
        }
    }

    #[test]
    fn nat_hotspot() {
        let mut ledger = ClientLedger::default();
        // Four users behind one address, all on server 1 (source persistence).
        for user in ["u1", "u2", "u3", "u4"] {
            observe(&mut ledger, "192.0.2.1", user, 1, 20);
        }
        // Other clients spread over the three servers.
        for (i, server) in [0, 1, 2, 0, 2, 0].into_iter().enumerate() {
            observe(&mut ledger, &format!("198.51.100.{i}"), &format!("d{i}"), server, 10);
        }
        let reports = ledger.report(Some, &HotspotThresholds::default());
        let nat = &reports[0];
        assert_eq!(nat.address, "192.0.2.1");
        assert_eq!(nat.users, vec!["u1", "u2", "u3", "u4"]);
        assert_eq!((nat.transactions, nat.bytes, nat.sessions), (80, 400, 1));
        let reason = nat.hotspot.as_ref().unwrap();
        assert_eq!(reason.server, ServerId::test(1));
        assert!((reason.share_of_server - 80.0 / 90.0).abs() < 1e-9);
        assert!((reason.server_share_of_farm - 90.0 / 140.0).abs() < 1e-9);
        assert!(reports[1..].iter().all(|r| r.hotspot.is_none()));

        // Three users are not enough, and a balanced farm has no hot-spot.
        let strict = HotspotThresholds { min_users: 5, ..HotspotThresholds::default() };
        assert!(ledger.report(Some, &strict).iter().all(|r| r.hotspot.is_none()));
        let mut balanced = ClientLedger::default();
        for (server, user) in [(0, "u1"), (1, "u2"), (2, "u3"), (0, "u4")] {
            observe(&mut balanced, "192.0.2.1", user, server, 10);
        }
        observe(&mut balanced, "198.51.100.1", "x", 1, 10);
        observe(&mut balanced, "198.51.100.2", "y", 2, 10);
        assert!(balanced.report(Some, &HotspotThresholds::default()).iter().all(|r| r.hotspot.is_none()));
    }
}
