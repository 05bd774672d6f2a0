//! One connection's HTTP: reading both streams, pairing requests with responses, gaps, the end.
//!
//! Each direction is a [`Side`] whose [`Phase`] says where its stream stands. Requests wait in a
//! FIFO for their response (pipelining). Invariants that keep the pairing O(1):
//! - only the newest request can still be being read, so the request side works on the back of
//!   the queue;
//! - responses come in request order, so the response side works on the front; a transaction
//!   leaves the queue (is emitted) as soon as both its messages are done, so the front is the
//!   oldest unanswered request, or a request whose early response came before its body ended.
//!
//! Each side remembers the depth of the transaction it reads (`Side::current`) and looks it up
//! at its end of the queue: a transaction given up meanwhile is simply not found.

use std::collections::VecDeque;
use std::mem;

use super::framing::{request_framing, response_framing, AfterHead, Body, GapOutcome};
use super::head::{parse_request, parse_response, HeadIssues, Kind, RequestParts, Scan, TailScan};
use super::side::{Garbage, Phase, Resync, Side, GARBAGE_SAMPLE};
use super::syntax::{before_credentials, escape_bytes, take_line};
use super::{ConnMode, Headers, HttpConfig, RequestHead, ResponseHead, Transaction};
use crate::anomaly::Anomaly;
use crate::reassembly::Direction;
use crate::timestamp::Timestamp;

/// Requests waiting for their response beyond which the oldest is given up (Zeek warns past 100).
pub(super) const MAX_PENDING_REQUESTS: usize = 100;

const GAP: &str = "http_gap_in_message";
const TRUNCATED: &str = "http_message_truncated";

/// A transaction whose request has been seen, until it is emitted.
#[derive(Debug)]
struct PendingTx {
    depth: u32,
    request: RequestHead,
    request_body_len: u64,
    request_done: bool,
    response: Option<ResponseHead>,
    response_body_len: u64,
    /// Its final response ended, or was lost in a gap.
    response_done: bool,
    ts_response_end: Option<Timestamp>,
    incomplete: bool,
}

impl PendingTx {
    fn new(depth: u32, request: RequestHead) -> Self {
        PendingTx {
            depth,
            request,
            request_body_len: 0,
            request_done: false,
            response: None,
            response_body_len: 0,
            response_done: false,
            ts_response_end: None,
            incomplete: false,
        }
    }

    /// An Outlook Anywhere channel: its bodies are long-lived RPC streams.
    fn is_rpc(&self) -> bool {
        let method = &self.request.method;
        method.eq_ignore_ascii_case("RPC_IN_DATA") || method.eq_ignore_ascii_case("RPC_OUT_DATA")
    }

    fn awaits_http09_response(&self) -> bool {
        !self.response_done && self.request.version == "0.9"
    }

    fn into_transaction(self) -> Transaction {
        Transaction {
            depth: self.depth,
            request: self.request,
            response: self.response,
            request_body_len: self.request_body_len,
            response_body_len: self.response_body_len,
            ts_response_end: self.ts_response_end,
            incomplete: self.incomplete,
        }
    }
}

/// Where one call delivers its results.
struct Ctx<'a> {
    ts: Timestamp,
    out: &'a mut Vec<Transaction>,
    anomalies: &'a mut Vec<Anomaly>,
}

impl Ctx<'_> {
    fn report(&mut self, kind: &'static str, detail: impl Into<String>) {
        self.anomalies.push(Anomaly::new(self.ts, kind, detail));
    }
}

/// The HTTP state of one TCP connection, fed with its two reassembled streams.
#[derive(Debug)]
pub struct HttpConnection {
    config: HttpConfig,
    requests: Side,
    responses: Side,
    pending: VecDeque<PendingTx>,
    requests_seen: u32,
    pipelining: bool,
    tunnel: bool,
    excessive_pipelining_reported: bool,
}

impl HttpConnection {
    pub fn new(config: HttpConfig) -> Self {
        HttpConnection {
            config,
            requests: Side::new(Kind::Request),
            responses: Side::new(Kind::Response),
            pending: VecDeque::new(),
            requests_seen: 0,
            pipelining: false,
            tunnel: false,
            excessive_pipelining_reported: false,
        }
    }

    /// In-order bytes of one direction, in pieces of any size.
    pub fn data(
        &mut self,
        dir: Direction,
        ts: Timestamp,
        bytes: &[u8],
        out: &mut Vec<Transaction>,
        anomalies: &mut Vec<Anomaly>,
    ) {
        let mut ctx = Ctx { ts, out, anomalies };
        self.side_mut(dir).last_ts = ts;
        let mut input = bytes;
        while !input.is_empty() {
            let consumed = self.step(dir, input, &mut ctx);
            debug_assert!(consumed > 0, "every step takes at least one byte");
            // Never spin on a step that took nothing: lose a byte rather than hang.
            input = input.get(consumed.max(1)..).unwrap_or_default();
        }
    }

    /// `len` bytes of one direction are missing; the stream resumes after them.
    pub fn gap(
        &mut self,
        dir: Direction,
        ts: Timestamp,
        len: u64,
        out: &mut Vec<Transaction>,
        anomalies: &mut Vec<Anomaly>,
    ) {
        if len == 0 {
            return;
        }
        let mut ctx = Ctx { ts, out, anomalies };
        self.side_mut(dir).last_ts = ts;
        let phase = mem::replace(&mut self.side_mut(dir).phase, Phase::Head);
        let next = self.gap_in(dir, phase, len, &mut ctx);
        self.side_mut(dir).phase = next;
    }

    /// End of the connection: completes close-delimited bodies, emits requests still waiting for
    /// a response (response None).
    pub fn finish(&mut self, ts: Timestamp, out: &mut Vec<Transaction>, anomalies: &mut Vec<Anomaly>) {
        let mut ctx = Ctx { ts, out, anomalies };
        for dir in [Direction::ToServer, Direction::ToClient] {
            let phase = mem::replace(&mut self.side_mut(dir).phase, Phase::Head);
            self.finish_side(dir, phase, &mut ctx);
        }
        ctx.out.extend(self.pending.drain(..).map(PendingTx::into_transaction));
    }

    /// None when no HTTP transaction was seen.
    pub fn mode(&self) -> Option<ConnMode> {
        match self.requests_seen {
            0 => None,
            _ if self.tunnel => Some(ConnMode::Tunnel),
            _ if self.pipelining => Some(ConnMode::Pipelining),
            1 => Some(ConnMode::Close),
            _ => Some(ConnMode::KeepAlive),
        }
    }

    /// Bytes to server / to client after a tunnel started (CONNECT 2xx or 101), bytes missing
    /// from the capture included.
    pub fn tunnel_bytes(&self) -> (u64, u64) {
        (self.requests.tunnel_bytes, self.responses.tunnel_bytes)
    }

    /// Bytes of room held in the head buffers and the queue of pending transactions.
    #[cfg(test)]
    pub(super) fn held_capacity(&self) -> usize {
        let queue = self.pending.capacity() * mem::size_of::<PendingTx>();
        self.requests.buf.capacity() + self.responses.buf.capacity() + queue
    }

    fn side(&self, dir: Direction) -> &Side {
        match dir {
            Direction::ToServer => &self.requests,
            Direction::ToClient => &self.responses,
        }
    }

    fn side_mut(&mut self, dir: Direction) -> &mut Side {
        match dir {
            Direction::ToServer => &mut self.requests,
            Direction::ToClient => &mut self.responses,
        }
    }

    fn header_limit(&self) -> usize {
        self.config.max_header_bytes.max(1)
    }

    /// The transaction `depth` at this side's end of the queue (see the module invariants).
    fn tx_mut(&mut self, dir: Direction, depth: Option<u32>) -> Option<&mut PendingTx> {
        let depth = depth?;
        let tx = match dir {
            Direction::ToServer => self.pending.back_mut(),
            Direction::ToClient => self.pending.front_mut(),
        }?;
        (tx.depth == depth).then_some(tx)
    }

    fn current_tx(&mut self, dir: Direction) -> Option<&mut PendingTx> {
        let depth = self.side(dir).current;
        self.tx_mut(dir, depth)
    }

    fn emit_completed(&mut self, ctx: &mut Ctx<'_>) {
        while self.pending.front().is_some_and(|tx| tx.request_done && tx.response_done) {
            ctx.out.extend(self.pop_pending().map(PendingTx::into_transaction));
        }
    }

    /// The oldest pending transaction. The queue's memory is given back when it empties: an idle
    /// connection holds none (a sixth as much as the head buffers on a 1 GiB capture).
    fn pop_pending(&mut self) -> Option<PendingTx> {
        let tx = self.pending.pop_front();
        if self.pending.is_empty() {
            self.pending = VecDeque::new();
        }
        tx
    }

    /// Takes at least one byte of `input` (which is not empty) and moves the side on.
    fn step(&mut self, dir: Direction, input: &[u8], ctx: &mut Ctx<'_>) -> usize {
        let phase = mem::replace(&mut self.side_mut(dir).phase, Phase::Head);
        let (consumed, next) = match phase {
            Phase::Head => self.read_head(dir, input, ctx),
            Phase::HeaderTail { mut tail, after } => match tail.feed(input) {
                Some(end) => (end, self.apply_after(dir, after, ctx)),
                None => (input.len(), Phase::HeaderTail { tail, after }),
            },
            Phase::Body(body) => self.read_body(dir, body, input, ctx),
            Phase::Resync(resync) => self.read_resync(dir, resync, input, ctx),
            Phase::Tunnel => {
                self.side_mut(dir).count_tunnel(input.len() as u64);
                (input.len(), Phase::Tunnel)
            }
        };
        self.side_mut(dir).phase = next;
        consumed
    }

    fn read_head(&mut self, dir: Direction, input: &[u8], ctx: &mut Ctx<'_>) -> (usize, Phase) {
        if self.side(dir).buf.is_empty() {
            if dir == Direction::ToClient && self.pending.front().is_some_and(PendingTx::awaits_http09_response) {
                self.start_http09_response(ctx.ts);
                return self.read_body(dir, Body::UntilClose, input, ctx);
            }
            // Empty lines between messages are tolerated (RFC 9112 §2.2).
            let blank = input.iter().take_while(|&&b| b == b'\r' || b == b'\n').count();
            if blank > 0 {
                return (blank, Phase::Head);
            }
            self.begin_head(dir, ctx.ts);
        }
        let limit = self.header_limit();
        let side = self.side_mut(dir);
        let old_len = side.buf.len();
        let take = input.len().min(limit.saturating_sub(old_len));
        side.buf.extend_from_slice(&input[..take]);
        let scan = side.scan.scan(&side.buf, side.kind);
        let (kept, next) = self.after_scan(dir, scan, ctx);
        (kept.saturating_sub(old_len), next)
    }

    fn begin_head(&mut self, dir: Direction, ts: Timestamp) {
        let unanswered = self.pending.back().is_some_and(|tx| !tx.response_done);
        let side = self.side_mut(dir);
        side.head_ts = ts;
        side.started_while_unanswered = unanswered;
    }

    /// Acts on a scan of the head buffer. Returns how many buffered bytes belong to the head (or
    /// to the line that is not HTTP), the rest being left to the next step, and the next phase.
    fn after_scan(&mut self, dir: Direction, scan: Scan, ctx: &mut Ctx<'_>) -> (usize, Phase) {
        let limit = self.header_limit();
        let side = self.side_mut(dir);
        match scan {
            Scan::NeedMore if side.buf.len() >= limit => (side.buf.len(), self.head_too_large(dir, ctx)),
            Scan::NeedMore => (side.buf.len(), Phase::Head),
            Scan::Complete { len } => {
                side.buf.truncate(len);
                (len, self.head_complete(dir, false, ctx))
            }
            Scan::NotHttp { line_len } => {
                side.buf.truncate(line_len);
                (line_len, self.enter_garbage(dir, ctx))
            }
        }
    }

    /// The header block filled `max_header_bytes`: keep its complete lines, skip the rest.
    fn head_too_large(&mut self, dir: Direction, ctx: &mut Ctx<'_>) -> Phase {
        let limit = self.header_limit();
        let side = self.side_mut(dir);
        ctx.report(
            "http_header_too_large",
            format!("{} header block over {limit} bytes: the lines beyond are dropped", side.kind.name()),
        );
        if side.scan.first_line_done() {
            return self.head_complete(dir, true, ctx);
        }
        // Even the start line does not fit: nothing to keep.
        let (line_bytes, line_ts) = (side.buf.len(), side.head_ts);
        side.clear_buf();
        Phase::Resync(Resync::new(None, line_bytes, 0, line_ts))
    }

    /// A header block is in the buffer (`cut`: only its beginning); parse it and register the
    /// message.
    fn head_complete(&mut self, dir: Direction, cut: bool, ctx: &mut Ctx<'_>) -> Phase {
        let side = self.side_mut(dir);
        let kind = side.kind;
        let block = mem::take(&mut side.buf);
        side.scan.reset();
        // A cut block is parsed up to its last complete line.
        let parsed = if cut { memchr::memrchr(b'\n', &block).map_or(0, |i| i + 1) } else { block.len() };
        let head = block.get(..parsed).unwrap_or_default();
        let after = match kind {
            Kind::Request => self.request_head(head, cut, ctx),
            Kind::Response => self.response_head(head, cut, ctx),
        };
        let next = match after {
            Some(after) if cut => Phase::HeaderTail { tail: TailScan::after(&block), after },
            Some(after) => self.apply_after(dir, after, ctx),
            None => {
                // Unreachable by construction (its first line was classified as HTTP).
                ctx.report("http_garbage", format!("unparsable {} head: {}", kind.name(), quote_garbage(&block)));
                Phase::Resync(Resync::new(None, 0, 0, ctx.ts))
            }
        };
        let side = self.side_mut(dir);
        side.buf = block;
        side.clear_buf();
        next
    }

    fn request_head(&mut self, block: &[u8], cut: bool, ctx: &mut Ctx<'_>) -> Option<AfterHead> {
        let (parts, issues) = parse_request(block, self.config.max_headers, cut)?;
        report_issues(Kind::Request, &issues, self.config.max_headers, ctx);
        let after = request_framing(&parts.version, &parts.headers, &mut |kind, detail| ctx.report(kind, detail));
        self.register_request(parts, ctx);
        Some(after)
    }

    fn register_request(&mut self, parts: RequestParts, ctx: &mut Ctx<'_>) {
        if self.pending.len() >= MAX_PENDING_REQUESTS {
            if !mem::replace(&mut self.excessive_pipelining_reported, true) {
                ctx.report(
                    "http_excessive_pipelining",
                    format!("more than {MAX_PENDING_REQUESTS} requests wait for a response: the oldest are given up"),
                );
            }
            ctx.out.extend(self.pop_pending().map(PendingTx::into_transaction));
        }
        self.requests_seen = self.requests_seen.saturating_add(1);
        self.pipelining |= self.requests.started_while_unanswered;
        let request = RequestHead {
            ts: self.requests.head_ts,
            method: parts.method,
            uri: parts.uri,
            version: parts.version,
            headers: parts.headers,
        };
        let tx = PendingTx::new(self.requests_seen, request);
        self.tunnel |= tx.is_rpc();
        if tx.awaits_http09_response() && self.responses.current.is_none() && matches!(self.responses.phase, Phase::Body(_)) {
            // The body of a response no request waited for cannot be this request's answer, which
            // is raw bytes until close: cut it here, like Zeek (http_09_reply_before_request).
            self.responses.phase = Phase::Head;
            self.responses.clear_buf();
        }
        self.requests.current = Some(tx.depth);
        self.pending.push_back(tx);
    }

    fn response_head(&mut self, block: &[u8], cut: bool, ctx: &mut Ctx<'_>) -> Option<AfterHead> {
        let (parts, issues) = parse_response(block, self.config.max_headers, cut)?;
        report_issues(Kind::Response, &issues, self.config.max_headers, ctx);
        let target = self.pending.front_mut().filter(|tx| !tx.response_done);
        let method = target.as_deref().map(|tx| tx.request.method.as_str());
        let after = response_framing(parts.status, method, &parts.headers, &mut |kind, detail| ctx.report(kind, detail));
        match target {
            None => {
                ctx.report("http_response_without_request", format!("status {}", parts.status));
                self.responses.current = None;
            }
            // An interim response: the request still waits for its final one.
            Some(_) if after == AfterHead::Interim => {}
            Some(tx) => {
                tx.response = Some(ResponseHead {
                    ts: self.responses.head_ts,
                    version: parts.version,
                    status: parts.status,
                    reason: parts.reason,
                    headers: parts.headers,
                });
                self.responses.current = Some(tx.depth);
            }
        }
        Some(after)
    }

    fn apply_after(&mut self, dir: Direction, after: AfterHead, ctx: &mut Ctx<'_>) -> Phase {
        match after {
            AfterHead::Done => {
                self.end_message(dir, ctx.ts, ctx);
                Phase::Head
            }
            AfterHead::Interim => Phase::Head,
            AfterHead::Body(body) => Phase::Body(body),
            AfterHead::Tunnel => {
                self.end_message(dir, ctx.ts, ctx);
                self.start_tunnel(ctx.ts, ctx);
                Phase::Tunnel
            }
        }
    }

    /// The message this side was reading ended (its last byte came at `ts`). Transactions done
    /// leave the queue at once, which keeps the front the oldest unanswered request.
    fn end_message(&mut self, dir: Direction, ts: Timestamp, ctx: &mut Ctx<'_>) {
        let depth = self.side_mut(dir).current.take();
        if let Some(tx) = self.tx_mut(dir, depth) {
            match dir {
                Direction::ToServer => tx.request_done = true,
                Direction::ToClient => {
                    tx.response_done = true;
                    tx.ts_response_end = Some(ts);
                }
            }
        }
        self.emit_completed(ctx);
    }

    /// A response started a tunnel (only responses do, so the request side's phase is in place):
    /// the request side stops parsing too. Bytes the client sent before the answer belong to the
    /// tunnel, so a resynchronisation in progress there is dropped without report.
    fn start_tunnel(&mut self, ts: Timestamp, ctx: &mut Ctx<'_>) {
        self.tunnel = true;
        let previous = mem::replace(&mut self.requests.phase, Phase::Tunnel);
        let held = match &previous {
            Phase::Resync(resync) => resync.total(),
            Phase::Head => self.requests.buf.len() as u64,
            Phase::HeaderTail { .. } | Phase::Body(_) | Phase::Tunnel => 0,
        };
        if matches!(previous, Phase::HeaderTail { .. } | Phase::Body(_)) {
            self.end_message(Direction::ToServer, ts, ctx);
        }
        self.requests.count_tunnel(held);
        self.requests.clear_buf();
    }

    fn start_http09_response(&mut self, ts: Timestamp) {
        if let Some(tx) = self.pending.front_mut() {
            // HTTP/0.9 responses have no status line: status 0, like Zeek.
            tx.response = Some(ResponseHead {
                ts,
                version: "0.9".into(),
                status: 0,
                reason: String::new(),
                headers: Headers::default(),
            });
            self.responses.current = Some(tx.depth);
        }
    }

    fn read_body(&mut self, dir: Direction, mut body: Body, input: &[u8], ctx: &mut Ctx<'_>) -> (usize, Phase) {
        let limit = self.header_limit();
        let side = self.side_mut(dir);
        let progress = body.consume(input, &mut side.buf, limit, &mut |kind, detail| ctx.report(kind, detail));
        self.count_body(dir, progress.body_bytes);
        if progress.done {
            self.end_message(dir, ctx.ts, ctx);
            (progress.consumed, Phase::Head)
        } else {
            (progress.consumed, Phase::Body(body))
        }
    }

    fn count_body(&mut self, dir: Direction, bytes: u64) {
        if let Some(tx) = self.current_tx(dir) {
            let len = match dir {
                Direction::ToServer => &mut tx.request_body_len,
                Direction::ToClient => &mut tx.response_body_len,
            };
            *len = len.saturating_add(bytes);
        }
    }

    fn mark_incomplete(&mut self, dir: Direction) {
        if let Some(tx) = self.current_tx(dir) {
            tx.incomplete = true;
        }
    }

    /// The buffer holds the first line of a message-to-be (complete or not) that is not HTTP.
    fn enter_garbage(&mut self, dir: Direction, ctx: &mut Ctx<'_>) -> Phase {
        let side = self.side_mut(dir);
        side.scan.reset();
        let garbage = Garbage { ts: side.head_ts, first: Vec::new() };
        let resync = Resync::new(Some(garbage), side.buf.len(), 1, side.head_ts);
        if side.buf.ends_with(b"\n") {
            self.resync_line_ended(dir, resync, ctx)
        } else {
            Phase::Resync(resync)
        }
    }

    fn read_resync(&mut self, dir: Direction, mut resync: Resync, input: &[u8], ctx: &mut Ctx<'_>) -> (usize, Phase) {
        let limit = self.header_limit();
        let side = self.side_mut(dir);
        if resync.line_bytes == 0 {
            resync.line_ts = ctx.ts;
        }
        let (consumed, ended) = take_line(&mut side.buf, input, limit);
        resync.line_bytes = resync.line_bytes.saturating_add(consumed as u64);
        let next = if ended { self.resync_line_ended(dir, resync, ctx) } else { Phase::Resync(resync) };
        (consumed, next)
    }

    /// A whole line is in the buffer: skip it, or start a message where a start line begins.
    fn resync_line_ended(&mut self, dir: Direction, mut resync: Resync, ctx: &mut Ctx<'_>) -> Phase {
        let side = self.side_mut(dir);
        let whole = resync.line_bytes == side.buf.len() as u64;
        let start = whole.then(|| side.kind.find_start(&side.buf, resync.min_start)).flatten();
        resync.note_line(side.buf.get(..start.unwrap_or(side.buf.len())).unwrap_or_default());
        let Some(start) = start else {
            resync.discard_line();
            side.clear_buf();
            return Phase::Resync(resync);
        };
        resync.skipped = resync.skipped.saturating_add(start as u64);
        resync.line_bytes = 0;
        side.buf.drain(..start);
        side.scan.reset();
        report_garbage(&resync, "before HTTP resumed", ctx);
        self.begin_head(dir, resync.line_ts);
        let side = self.side_mut(dir);
        let scan = side.scan.scan(&side.buf, side.kind);
        self.after_scan(dir, scan, ctx).1
    }

    fn silent_resync(&mut self, dir: Direction, ts: Timestamp) -> Phase {
        self.side_mut(dir).clear_buf();
        Phase::Resync(Resync::new(None, 0, 0, ts))
    }

    fn gap_in(&mut self, dir: Direction, phase: Phase, len: u64, ctx: &mut Ctx<'_>) -> Phase {
        let what = self.side(dir).kind.name();
        match phase {
            Phase::Tunnel => {
                self.side_mut(dir).count_tunnel(len);
                Phase::Tunnel
            }
            Phase::Resync(mut resync) => {
                let side = self.side_mut(dir);
                resync.note_line(&side.buf);
                resync.discard_line();
                side.clear_buf();
                Phase::Resync(resync)
            }
            Phase::Head => self.gap_in_head(dir, len, ctx),
            Phase::HeaderTail { .. } => {
                ctx.report(GAP, format!("{len} bytes missing in a {what} header block"));
                self.mark_incomplete(dir);
                self.end_message(dir, ctx.ts, ctx);
                self.silent_resync(dir, ctx.ts)
            }
            Phase::Body(mut body) => {
                ctx.report(GAP, format!("{len} bytes missing in a {what} body"));
                self.mark_incomplete(dir);
                match body.skip_gap(len) {
                    GapOutcome::Absorbed { body_bytes, done } => {
                        self.count_body(dir, body_bytes);
                        if done {
                            self.end_message(dir, ctx.ts, ctx);
                            Phase::Head
                        } else {
                            Phase::Body(body)
                        }
                    }
                    GapOutcome::Overran { body_bytes, excess } => {
                        self.count_body(dir, body_bytes);
                        self.end_message(dir, ctx.ts, ctx);
                        self.gap_in(dir, Phase::Head, excess, ctx)
                    }
                    GapOutcome::LostSync => {
                        self.end_message(dir, ctx.ts, ctx);
                        self.silent_resync(dir, ctx.ts)
                    }
                }
            }
        }
    }

    /// A gap between messages or inside a header block: whatever message it hid is lost.
    fn gap_in_head(&mut self, dir: Direction, len: u64, ctx: &mut Ctx<'_>) -> Phase {
        let partial = !self.side(dir).buf.is_empty();
        match dir {
            Direction::ToServer if partial => {
                ctx.report(GAP, format!("{len} bytes missing in a request header block: the request is lost"));
            }
            Direction::ToServer => ctx.report(GAP, format!("{len} bytes missing between requests")),
            Direction::ToClient if !partial && self.pending.front().is_some_and(PendingTx::awaits_http09_response) => {
                self.start_http09_response(ctx.ts);
                return self.gap_in(dir, Phase::Body(Body::UntilClose), len, ctx);
            }
            Direction::ToClient => match self.pending.front_mut().filter(|tx| !tx.response_done) {
                Some(tx) => {
                    tx.incomplete = true;
                    tx.response_done = true;
                    let depth = tx.depth;
                    ctx.report(GAP, format!("{len} bytes missing where the response to request {depth} was due: it is lost"));
                    self.emit_completed(ctx);
                }
                None => ctx.report(GAP, format!("{len} bytes missing between responses")),
            },
        }
        self.silent_resync(dir, ctx.ts)
    }

    fn finish_side(&mut self, dir: Direction, phase: Phase, ctx: &mut Ctx<'_>) {
        let end_ts = self.side(dir).last_ts;
        let what = self.side(dir).kind.name();
        match phase {
            Phase::Tunnel => {}
            Phase::Head if self.side(dir).buf.is_empty() => {}
            Phase::Head => self.finish_partial_head(dir, ctx),
            Phase::HeaderTail { .. } => {
                ctx.report(TRUNCATED, format!("the connection ended inside a {what} header block"));
                self.end_message(dir, end_ts, ctx);
            }
            Phase::Body(body) => {
                // Outlook Anywhere channels end this way: not an anomaly.
                let rpc = self.current_tx(dir).is_some_and(|tx| tx.is_rpc());
                if !body.ends_at_close() && !rpc {
                    ctx.report(TRUNCATED, format!("the connection ended inside a {what} body"));
                }
                self.end_message(dir, end_ts, ctx);
            }
            Phase::Resync(mut resync) => {
                resync.note_line(&self.side(dir).buf);
                report_garbage(&resync, "to the end of the connection", ctx);
                self.side_mut(dir).clear_buf();
            }
        }
    }

    /// The connection ended inside a header block: a message whose start line arrived counts,
    /// with the headers that came.
    fn finish_partial_head(&mut self, dir: Direction, ctx: &mut Ctx<'_>) {
        let side = self.side(dir);
        let what = side.kind.name();
        if side.scan.first_line_done() {
            ctx.report(TRUNCATED, format!("the connection ended inside a {what} header block"));
            // The phase after a cut head does not matter any more.
            let _ = self.head_complete(dir, true, ctx);
            let end_ts = self.side(dir).last_ts;
            self.end_message(dir, end_ts, ctx);
        } else {
            ctx.report(TRUNCATED, format!("the connection ended inside a {what} start line ({} bytes)", side.buf.len()));
        }
        self.side_mut(dir).clear_buf();
    }
}

fn report_issues(kind: Kind, issues: &HeadIssues, max_headers: usize, ctx: &mut Ctx<'_>) {
    let what = kind.name();
    if let Some(why) = issues.start_line {
        let anomaly = match kind {
            Kind::Request => "http_malformed_request_line",
            Kind::Response => "http_malformed_status_line",
        };
        ctx.report(anomaly, why);
    }
    if issues.invalid_lines > 0 {
        ctx.report("http_invalid_header_line", format!("{} {what} header lines without name and colon skipped", issues.invalid_lines));
    }
    if issues.folded_lines > 0 {
        ctx.report("http_obsolete_line_folding", format!("{} {what} header lines folded", issues.folded_lines));
    }
    if issues.not_strict {
        ctx.report("http_nonstandard_head", format!("{what} head rejected by the strict parser, read leniently"));
    }
    if issues.dropped_headers > 0 {
        ctx.report(
            "http_too_many_headers",
            format!("{} {what} headers beyond the first {max_headers} dropped", issues.dropped_headers),
        );
    }
}

/// Reports the garbage a resynchronisation skipped, if it was garbage (not a gap's aftermath).
fn report_garbage(resync: &Resync, outcome: &str, ctx: &mut Ctx<'_>) {
    if let Some(garbage) = &resync.garbage {
        let detail = format!("{} bytes skipped {outcome}; first bytes: {}", resync.total(), quote_garbage(&garbage.first));
        ctx.anomalies.push(Anomaly::new(garbage.ts, "http_garbage", detail));
    }
}

/// The first bytes of garbage, escaped, cut before anything that may be a credential.
fn quote_garbage(bytes: &[u8]) -> String {
    let (shown, cut) = before_credentials(bytes.get(..GARBAGE_SAMPLE).unwrap_or(bytes));
    let mut sample = escape_bytes(shown, GARBAGE_SAMPLE);
    if cut {
        sample.push_str("[cut before a possible credential]");
    }
    sample
}
