//! Outlook Anywhere channel pairs.
//!
//! RPC over HTTP splits one RPC connection into two HTTP requests: `RPC_IN_DATA` (client to
//! server) and `RPC_OUT_DATA` (server to client). The RPC proxy joins them only when both reach
//! it, so they should land on the same CAS. Two channels are a pair when they come from the same
//! client (the same source address, and the same user when both carry one), target the same
//! RPC server (`/rpc/rpcproxy.dll?server:port`) and start within [`PAIR_WINDOW_SECS`] of each
//! other; each channel pairs with the closest-starting one of the other direction.
//!
//! Channels wait for their partner while the capture clock is within [`PENDING_SECS`] of their
//! start; at most [`MAX_PENDING`] wait at once (the oldest are given up), so memory stays bounded.

use std::collections::{HashMap, VecDeque};

use super::identity::ServerId;
use super::sessions::SessionRef;
use crate::reassembly::ConnId;
use crate::timestamp::Timestamp;

/// Greatest gap between the starts of the two channels of a pair.
pub const PAIR_WINDOW_SECS: i64 = 5;
/// How long an unpaired channel waits for its partner, from its start (channels are reported
/// when they end, and the two ends of a pair may be minutes apart).
pub const PENDING_SECS: i64 = 3600;
/// Most channels waiting at once.
pub const MAX_PENDING: usize = 100_000;

/// Which channel.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Channel {
    In,
    Out,
}

impl Channel {
    pub fn of_method(method: &str) -> Option<Channel> {
        match method {
            "RPC_IN_DATA" => Some(Channel::In),
            "RPC_OUT_DATA" => Some(Channel::Out),
            _ => None,
        }
    }
}

/// One channel: a request of an Outlook Anywhere session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelInfo {
    pub channel: Channel,
    pub ts: Timestamp,
    pub conn_id: ConnId,
    pub server: Option<ServerId>,
    pub session_ref: Option<SessionRef>,
    pub user: Option<String>,
}

/// Two channels of one virtual connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OaPair {
    pub client: String,
    /// The `server:port` the channels target (the request's query).
    pub rpc_target: String,
    pub user: Option<String>,
    pub rpc_in: ChannelInfo,
    pub rpc_out: ChannelInfo,
}

impl OaPair {
    /// Both servers known and different: the RPC proxy cannot join the channels.
    pub fn split(&self, canonical: impl Fn(ServerId) -> Option<ServerId>) -> bool {
        match (self.rpc_in.server.and_then(&canonical), self.rpc_out.server.and_then(&canonical)) {
            (Some(a), Some(b)) => a != b,
            _ => false,
        }
    }
}

type ClientKey = (String, String);

/// Channels waiting for their partner, by client and target.
#[derive(Debug, Default)]
pub struct OaPairer {
    waiting: HashMap<ClientKey, Vec<ChannelInfo>>,
    /// Arrival order, for expiry: (start, key).
    order: VecDeque<(Timestamp, ClientKey)>,
    pending: usize,
    pub paired: u64,
    pub unpaired: u64,
}

impl OaPairer {
    /// A channel of `client` to `rpc_target`; returns the pair it completes, if any.
    pub fn channel(&mut self, client: &str, rpc_target: &str, info: ChannelInfo, now: Timestamp) -> Option<OaPair> {
        self.expire(now);
        let key = (client.to_owned(), rpc_target.to_owned());
        let waiting = self.waiting.entry(key.clone()).or_default();
        let partner = waiting
            .iter()
            .enumerate()
            .filter(|(_, w)| w.channel != info.channel && compatible_users(&w.user, &info.user))
            .map(|(i, w)| (i, (w.ts.as_nanos() - info.ts.as_nanos()).unsigned_abs()))
            .filter(|&(_, gap)| gap <= (PAIR_WINDOW_SECS as u64).saturating_mul(1_000_000_000))
            .min_by_key(|&(_, gap)| gap)
            .map(|(i, _)| i);
        match partner {
            Some(i) => {
                let other = waiting.swap_remove(i);
                self.pending = self.pending.saturating_sub(1);
                self.paired += 1;
                let user = info.user.clone().or_else(|| other.user.clone());
                let (rpc_in, rpc_out) = if info.channel == Channel::In { (info, other) } else { (other, info) };
                Some(OaPair { client: key.0, rpc_target: key.1, user, rpc_in, rpc_out })
            }
            None => {
                self.order.push_back((info.ts, key));
                waiting.push(info);
                self.pending += 1;
                self.evict_over_cap();
                None
            }
        }
    }

    /// Gives up the channels that waited too long.
    fn expire(&mut self, now: Timestamp) {
        let limit = now.add_secs(-PENDING_SECS);
        while self.order.front().is_some_and(|(ts, _)| *ts < limit) {
            self.pop_oldest();
        }
    }

    fn evict_over_cap(&mut self) {
        while self.pending > MAX_PENDING {
            self.pop_oldest();
        }
    }

    /// Drops the oldest waiting entry (if it is still waiting: it may have paired since).
    fn pop_oldest(&mut self) {
        let Some((ts, key)) = self.order.pop_front() else { return };
        if let Some(list) = self.waiting.get_mut(&key) {
            if let Some(i) = list.iter().position(|c| c.ts == ts) {
                list.swap_remove(i);
                self.pending = self.pending.saturating_sub(1);
                self.unpaired += 1;
            }
            if list.is_empty() {
                self.waiting.remove(&key);
            }
        }
    }

    /// Counts what still waits as unpaired (end of capture).
    pub fn finish(&mut self) {
        self.unpaired += self.pending as u64;
        self.pending = 0;
        self.waiting.clear();
        self.order.clear();
    }
}

fn compatible_users(a: &Option<String>, b: &Option<String>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a == b,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn channel(channel: Channel, millis: i64, server: u32, user: Option<&str>) -> ChannelInfo {
        ChannelInfo {
            channel,
            ts: Timestamp::from_nanos(millis * 1_000_000),
            conn_id: ConnId(millis as u64),
            server: Some(ServerId::test(server)),
            session_ref: None,
            user: user.map(str::to_owned),
        }
    }

    #[test]
    fn pairs_split_and_unpaired() {
        let mut pairer = OaPairer::default();
        let now = Timestamp::from_nanos(0);
        let target = "cas01.contoso.test:6001";
        // Attempt 1: IN on server 0, OUT on server 1 (reported first: it ended first).
        assert_eq!(pairer.channel("10.0.0.5", target, channel(Channel::Out, 12, 1, Some("u3")), now), None);
        let pair = pairer.channel("10.0.0.5", target, channel(Channel::In, 10, 0, Some("u3")), now).unwrap();
        assert_eq!((pair.rpc_in.ts.as_nanos(), pair.rpc_out.ts.as_nanos()), (10_000_000, 12_000_000));
        assert!(pair.split(Some));
        assert_eq!(pair.user.as_deref(), Some("u3"));
        // Another client, another target, another user, or too far apart: no pair.
        assert_eq!(pairer.channel("10.0.0.6", target, channel(Channel::In, 2000, 0, None), now), None);
        assert_eq!(pairer.channel("10.0.0.5", "other:6001", channel(Channel::Out, 2001, 0, None), now), None);
        assert_eq!(pairer.channel("10.0.0.5", target, channel(Channel::In, 3000, 0, Some("u5")), now), None);
        assert_eq!(pairer.channel("10.0.0.5", target, channel(Channel::Out, 3001, 0, Some("u3")), now), None);
        assert_eq!(pairer.channel("10.0.0.6", target, channel(Channel::Out, 9000, 0, None), now), None);
        // The closest start wins; same server: not split.
        let pair = pairer.channel("10.0.0.5", target, channel(Channel::In, 3002, 0, None), now).unwrap();
        assert_eq!(pair.rpc_out.ts.as_nanos(), 3_001_000_000);
        assert!(!pair.split(Some));
        assert_eq!(pairer.paired, 2);
        pairer.finish();
        assert_eq!(pairer.unpaired, 4);
    }

    #[test]
    fn waiting_channels_expire() {
        let mut pairer = OaPairer::default();
        pairer.channel("c", "t", channel(Channel::In, 0, 0, None), Timestamp::from_nanos(0));
        let later = Timestamp::from_secs_nanos(PENDING_SECS + 1, 0);
        assert_eq!(pairer.channel("c", "t", channel(Channel::Out, 1, 1, None), later), None);
        assert_eq!(pairer.unpaired, 1);
        assert_eq!(pairer.pending, 1);
    }
}
