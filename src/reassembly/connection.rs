//! One connection: its two directions, handshake flags and close state, and the handler's state.
//!
//! A segment's acknowledgement is applied to the other direction before its own bytes (it
//! acknowledges what came before it). The connection asks to be closed on a RST, or once both
//! FINs are seen and every byte before them was passed on; otherwise the table ends it (idle,
//! displaced by a new connection on the same endpoints, end of capture). Ending it passes on
//! what it still holds and leaves a [`Closed`] connection: the record and the handler's state,
//! waiting for the handler's last call.

use super::assembler::Deliver;
use super::stream::HalfStream;
use super::{ConnEnd, ConnMeta, ConnStart, ConnectionRecord, Direction, StreamHandler};
use crate::decode::TcpSegment;
use crate::timestamp::Timestamp;

pub(crate) struct Connection<S> {
    meta: ConnMeta,
    state: S,
    to_server: HalfStream,
    to_client: HalfStream,
    syn_seen: bool,
    synack_seen: bool,
    first_fin: Option<Direction>,
    reset_by: Option<Direction>,
    ts_last: Timestamp,
}

/// Passes one direction's stream to the handler.
struct HandlerSink<'a, H: StreamHandler> {
    handler: &'a mut H,
    state: &'a mut H::State,
    meta: &'a ConnMeta,
    dir: Direction,
    ts: Timestamp,
}

impl<H: StreamHandler> Deliver for HandlerSink<'_, H> {
    fn data(&mut self, bytes: &[u8]) {
        self.handler
            .data(self.state, self.meta, self.dir, self.ts, bytes);
    }

    fn gap(&mut self, len: u64) {
        self.handler
            .gap(self.state, self.meta, self.dir, self.ts, len);
    }
}

impl<S> Connection<S> {
    pub fn new(meta: ConnMeta, state: S, max_out_of_order_bytes: usize) -> Self {
        Connection {
            ts_last: meta.ts_start,
            meta,
            state,
            to_server: HalfStream::new(max_out_of_order_bytes),
            to_client: HalfStream::new(max_out_of_order_bytes),
            syn_seen: false,
            synack_seen: false,
            first_fin: None,
            reset_by: None,
        }
    }

    pub fn ts_last(&self) -> Timestamp {
        self.ts_last
    }

    /// The server's ISN, when its SYN-ACK was seen.
    pub fn server_isn(&self) -> Option<u32> {
        self.half(Direction::ToClient).isn()
    }

    /// Whether `seg` (between this connection's endpoints) belongs to it. A SYN belongs only if
    /// it comes from the expected side (SYN from the client, SYN-ACK from the server) with the
    /// ISN already seen or implied; any other SYN starts a new connection.
    pub fn accepts(&self, seg: &TcpSegment<'_>) -> bool {
        if !seg.flags.syn || seg.flags.rst {
            return true;
        }
        let dir = self.direction_of(seg);
        let expected = if seg.flags.ack {
            Direction::ToClient
        } else {
            Direction::ToServer
        };
        dir == expected && self.half(dir).accepts_syn(seg.seq)
    }

    /// Takes a segment of this connection; returns how it ended when it must be closed now.
    pub fn segment<H: StreamHandler<State = S>>(
        &mut self,
        handler: &mut H,
        seg: &TcpSegment<'_>,
    ) -> Option<ConnEnd> {
        let dir = self.direction_of(seg);
        self.ts_last = self.ts_last.max(seg.ts);
        let flags = seg.flags;
        let (sender, receiver) = match dir {
            Direction::ToServer => (&mut self.to_server, &mut self.to_client),
            Direction::ToClient => (&mut self.to_client, &mut self.to_server),
        };
        sender.count_packet(seg);
        if flags.rst {
            self.reset_by = Some(dir);
            return Some(ConnEnd::Reset);
        }
        if flags.ack {
            let mut out = HandlerSink {
                handler: &mut *handler,
                state: &mut self.state,
                meta: &self.meta,
                dir: dir.reverse(),
                ts: seg.ts,
            };
            receiver.peer_ack(seg.ack, &mut out);
        }
        let mut out = HandlerSink {
            handler,
            state: &mut self.state,
            meta: &self.meta,
            dir,
            ts: seg.ts,
        };
        sender.receive(seg, &mut out);
        if flags.syn {
            // Only a SYN from the client and a SYN-ACK from the server get here (`accepts`, and
            // the roles of a new connection, see to it).
            if flags.ack {
                self.synack_seen = true;
            } else {
                self.syn_seen = true;
            }
        }
        if flags.fin && self.first_fin.is_none() {
            self.first_fin = Some(dir);
        }
        (self.to_server.finished() && self.to_client.finished()).then_some(ConnEnd::Fin)
    }

    /// How the connection ends when the table ends it with no RST and not both FINs passed.
    pub fn end_when_evicted(&self, still_open: ConnEnd) -> ConnEnd {
        match (self.to_server.fin_seen(), self.to_client.fin_seen()) {
            (true, true) => ConnEnd::Fin,
            (false, false) => still_open,
            _ => ConnEnd::HalfClosed,
        }
    }

    /// Passes on everything still held (holes as gaps) and returns the record with the
    /// handler's state, which get the handler's last call when the table is done with them.
    pub fn end<H: StreamHandler<State = S>>(self, handler: &mut H, end: ConnEnd) -> Closed<S> {
        let start = self.start();
        let Connection {
            meta,
            mut state,
            mut to_server,
            mut to_client,
            first_fin,
            reset_by,
            ts_last,
            ..
        } = self;
        for (half, dir) in [
            (&mut to_server, Direction::ToServer),
            (&mut to_client, Direction::ToClient),
        ] {
            half.flush(&mut HandlerSink {
                handler: &mut *handler,
                state: &mut state,
                meta: &meta,
                dir,
                ts: ts_last,
            });
        }
        let record = ConnectionRecord {
            meta,
            ts_last,
            start,
            end,
            closed_by: reset_by.or(first_fin),
            to_server: to_server.stats(),
            to_client: to_client.stats(),
        };
        Closed { state, record }
    }

    fn start(&self) -> ConnStart {
        match (self.syn_seen, self.synack_seen) {
            (true, true) => ConnStart::Handshake,
            (true, false) => ConnStart::SynOnly,
            (false, true) => ConnStart::SynAckOnly,
            (false, false) => ConnStart::Midstream,
        }
    }

    fn direction_of(&self, seg: &TcpSegment<'_>) -> Direction {
        direction_on(&self.meta, seg)
    }

    /// The stream going `dir`.
    fn half(&self, dir: Direction) -> &HalfStream {
        match dir {
            Direction::ToServer => &self.to_server,
            Direction::ToClient => &self.to_client,
        }
    }
}

/// A connection whose streams are over: every byte was passed on and its buffers are released.
/// Its record is final except for the packet counts, which take the late segments (Zeek counts a
/// connection's packets until it forgets it, the last ACK after the FINs included, while its
/// duration stops at the close: `ts_last` does not move).
pub(crate) struct Closed<S> {
    state: S,
    record: ConnectionRecord,
}

impl<S> Closed<S> {
    pub fn record(&self) -> &ConnectionRecord {
        &self.record
    }

    /// Counts a segment that came after the close in its sender's packets.
    pub fn count_late(&mut self, seg: &TcpSegment<'_>) {
        let stats = match direction_on(&self.record.meta, seg) {
            Direction::ToServer => &mut self.record.to_server,
            Direction::ToClient => &mut self.record.to_client,
        };
        stats.count_packet(seg);
    }

    /// Gives the handler its last call, with the final record.
    pub fn close<H: StreamHandler<State = S>>(self, handler: &mut H) {
        handler.close(self.state, &self.record);
    }
}

/// Which way `seg`, between the endpoints of the connection `meta`, goes.
fn direction_on(meta: &ConnMeta, seg: &TcpSegment<'_>) -> Direction {
    if seg.src_ip == meta.client_ip && seg.src_port == meta.client_port {
        Direction::ToServer
    } else {
        Direction::ToClient
    }
}
