//! One connection from SYN to FIN or RST: a state machine the scheduler steps at the times it
//! asks for. Each step does one thing — open, take the next turn, send one window of the
//! client's or the server's bytes, close — so that connections interleave on the wire.
//!
//! TLS connections first play the handshake's two turns, then carry every turn of their
//! script as application_data records of the same plaintext length, and send an encrypted
//! close_notify before an orderly close.

use std::collections::VecDeque;

use super::outbox::{Outbox, Piece};
use super::queue::PacketQueue;
use super::script::{Close, Script, Turn};
use super::tcp::{TcpFlow, WINDOW};
use super::time::{Nanos, MILLISECOND};
use super::tls::{self, Handshake};
use crate::rng::Rng;

/// What the scheduler does with a connection after a step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    WakeAt(Nanos),
    Finished,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Connect,
    NextTurn,
    ClientSends,
    ServerSends,
    Closing(Close),
}

pub struct Connection {
    flow: TcpFlow,
    script: Box<dyn Script>,
    /// Handshake turns still to play; `None` for plain HTTP.
    tls: Option<VecDeque<Turn>>,
    rng: Rng,
    phase: Phase,
    client: Outbox,
    server: Outbox,
    server_delay: Nanos,
}

impl Connection {
    pub fn new(
        flow: TcpFlow,
        script: Box<dyn Script>,
        handshake: Option<Handshake>,
        rng: Rng,
    ) -> Connection {
        Connection {
            flow,
            script,
            tls: handshake.map(handshake_turns),
            rng,
            phase: Phase::Connect,
            client: Outbox::default(),
            server: Outbox::default(),
            server_delay: 0,
        }
    }

    pub fn client_port(&self) -> u16 {
        self.flow.client_port()
    }

    /// Does the step due at `now`; `scratch` is a reusable buffer for one window of bytes.
    pub fn step(&mut self, now: Nanos, out: &mut PacketQueue, scratch: &mut Vec<u8>) -> Progress {
        match self.phase {
            Phase::Connect => {
                self.phase = Phase::NextTurn;
                Progress::WakeAt(self.flow.open(now, out))
            }
            Phase::NextTurn => self.start_turn(now),
            Phase::ClientSends => self.send_window(true, now, out, scratch),
            Phase::ServerSends => self.send_window(false, now, out, scratch),
            Phase::Closing(close) => {
                self.close(close, now, out, scratch);
                Progress::Finished
            }
        }
    }

    fn next_turn(&mut self, now: Nanos) -> Option<Turn> {
        let Some(handshake) = &mut self.tls else {
            return self.script.next_turn(now, &mut self.rng);
        };
        if let Some(turn) = handshake.pop_front() {
            return Some(turn);
        }
        let turn = self.script.next_turn(now, &mut self.rng)?;
        Some(Turn {
            client: tls::seal(&turn.client),
            server: tls::seal(&turn.server),
            ..turn
        })
    }

    fn start_turn(&mut self, now: Nanos) -> Progress {
        match self.next_turn(now) {
            Some(turn) => {
                self.client.extend(turn.client);
                self.server.extend(turn.server);
                self.server_delay = turn.server_delay;
                self.phase = Phase::ClientSends;
                Progress::WakeAt(now + turn.pause)
            }
            None => {
                let close = self.script.close(&mut self.rng);
                self.phase = Phase::Closing(close);
                Progress::WakeAt(now + close.after)
            }
        }
    }

    /// Sends one window; the sender waits for its ACKs before the next one. When the side has
    /// nothing more, the turn moves on: to the server's answer, or to the next turn.
    fn send_window(
        &mut self,
        from_client: bool,
        now: Nanos,
        out: &mut PacketQueue,
        scratch: &mut Vec<u8>,
    ) -> Progress {
        let outbox = if from_client {
            &mut self.client
        } else {
            &mut self.server
        };
        scratch.clear();
        outbox.take(WINDOW, scratch);
        let more = !outbox.is_empty();
        let end = if scratch.is_empty() {
            now
        } else {
            self.flow.send(from_client, now, scratch, out)
        };
        // The capture sees a server's ACK at once, but the client hears it a round trip later.
        let acked = if from_client {
            end + self.flow.rtt()
        } else {
            end
        };
        if more {
            return Progress::WakeAt(acked);
        }
        if from_client {
            self.phase = Phase::ServerSends;
            Progress::WakeAt(end + self.server_delay)
        } else {
            self.phase = Phase::NextTurn;
            Progress::WakeAt(acked)
        }
    }

    fn close(&mut self, close: Close, now: Nanos, out: &mut PacketQueue, scratch: &mut Vec<u8>) {
        if close.reset {
            self.flow.reset(close.by_client, now, out);
            return;
        }
        let mut time = now;
        if self.tls.is_some() {
            let mut alert = Outbox::default();
            alert.extend(tls::close_notify());
            scratch.clear();
            alert.take(WINDOW, scratch);
            time = self.flow.send(close.by_client, now, scratch, out);
        }
        self.flow.close(close.by_client, time, out);
    }
}

/// The handshake's flights as two turns; the server signs its key exchange first.
fn handshake_turns(handshake: Handshake) -> VecDeque<Turn> {
    handshake
        .turns
        .into_iter()
        .map(|(client, server)| Turn {
            pause: 0,
            client: vec![Piece::Bytes(client)],
            server_delay: MILLISECOND,
            server: vec![Piece::Bytes(server)],
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::frame::{test_path, ACK, FIN, RST, SYN};
    use crate::generate::tcp::{Impairments, Link};

    /// Two turns: a 3000-byte request answered by 100 000 bytes, then a server push.
    struct Fixed {
        turns: VecDeque<Turn>,
        close: Close,
    }

    impl Script for Fixed {
        fn next_turn(&mut self, _now: Nanos, _rng: &mut Rng) -> Option<Turn> {
            self.turns.pop_front()
        }
        fn close(&self, _rng: &mut Rng) -> Close {
            self.close
        }
    }

    fn connection(close: Close, handshake: Option<Handshake>) -> Connection {
        let path = test_path(443);
        let link = Link {
            rtt: 20 * MILLISECOND,
            client_rate_bps: 50_000_000,
        };
        let flow = TcpFlow::new(path, link, Impairments::default(), Rng::new(1));
        let turns = VecDeque::from([
            Turn {
                pause: 0,
                client: vec![Piece::Bytes(vec![b'q'; 3_000])],
                server_delay: 5 * MILLISECOND,
                server: vec![Piece::Bytes(vec![b'r'; 100_000])],
            },
            Turn {
                pause: 7 * MILLISECOND,
                client: Vec::new(),
                server_delay: 0,
                server: vec![Piece::Bytes(vec![b'p'; 10])],
            },
        ]);
        Connection::new(
            flow,
            Box::new(Fixed { turns, close }),
            handshake,
            Rng::new(2),
        )
    }

    /// Steps a connection to the end; returns (from client, flags, payload length) per packet
    /// in time order, and the wake-up times.
    fn run(mut connection: Connection) -> (Vec<(bool, u8, usize)>, Vec<Nanos>) {
        let mut queue = PacketQueue::default();
        let mut scratch = Vec::new();
        let mut now = 0;
        let mut wakes = Vec::new();
        while let Progress::WakeAt(next) = connection.step(now, &mut queue, &mut scratch) {
            assert!(next >= now);
            wakes.push(next);
            now = next;
        }
        let mut packets = Vec::new();
        while let Some((_, frame)) = queue.pop_due(Nanos::MAX) {
            let tcp = &frame[34..];
            let header_len = usize::from(tcp[12] >> 4) * 4;
            packets.push((
                tcp[..2] == 50_000u16.to_be_bytes(),
                tcp[13],
                tcp.len() - header_len,
            ));
        }
        (packets, wakes)
    }

    fn bytes_sent(packets: &[(bool, u8, usize)], from_client: bool) -> usize {
        packets
            .iter()
            .filter(|p| p.0 == from_client)
            .map(|p| p.2)
            .sum()
    }

    #[test]
    fn plays_turns_in_windows_then_closes() {
        let close = Close {
            after: 60,
            by_client: false,
            reset: false,
        };
        let (packets, wakes) = run(connection(close, None));
        assert_eq!(packets[0], (true, SYN, 0));
        assert_eq!(bytes_sent(&packets, true), 3_000);
        assert_eq!(bytes_sent(&packets, false), 100_010);
        // Steps that wait: open, turn, client, two server windows (100 000 bytes), turn, client
        // (nothing to send), server, turn (none left: wait to close); the close step finishes.
        assert_eq!(wakes.len(), 9);
        let last = &packets[packets.len() - 3..];
        assert_eq!(
            last,
            [(false, FIN | ACK, 0), (true, FIN | ACK, 0), (false, ACK, 0)]
        );
    }

    #[test]
    fn tls_connections_handshake_seal_and_notify() {
        let close = Close {
            after: 0,
            by_client: true,
            reset: false,
        };
        let handshake = Handshake::new(&mut Rng::new(4), None);
        let flights: usize = handshake.turns.iter().map(|(c, _)| c.len()).sum();
        let (packets, _) = run(connection(close, Some(handshake)));
        // Client: handshake, one record for 3000 bytes (5 + 24 overhead), close_notify (31).
        assert_eq!(bytes_sent(&packets, true), flights + 3_000 + 29 + 31);
        // Server: 100 000 bytes in 7 records, 10 in one.
        let handshake_server = 1_283 + 51;
        assert_eq!(
            bytes_sent(&packets, false),
            handshake_server + 100_000 + 7 * 29 + 10 + 29
        );
        assert_eq!(packets[packets.len() - 3].1, FIN | ACK);
        assert!(packets[packets.len() - 3].0);
    }

    #[test]
    fn resets_end_with_one_rst() {
        let close = Close {
            after: 0,
            by_client: true,
            reset: true,
        };
        let (packets, _) = run(connection(close, None));
        assert_eq!(packets.last(), Some(&(true, RST | ACK, 0)));
        assert_eq!(packets.iter().filter(|p| p.1 & FIN != 0).count(), 0);
    }
}
