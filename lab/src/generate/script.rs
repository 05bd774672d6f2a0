//! What an application does over one connection, as a sequence of turns: the client sends
//! (possibly several pipelined requests), the server answers (possibly nothing yet, possibly
//! without being asked, as on an Outlook Anywhere OUT channel). Scripts make their turns one at
//! a time, so a connection's plan costs memory only for the turn on the wire.

use super::outbox::Piece;
use super::time::Nanos;
use crate::rng::Rng;

#[derive(Debug)]
pub struct Turn {
    /// The client's pause (think time) before sending.
    pub pause: Nanos,
    pub client: Vec<Piece>,
    /// The server's processing time between the last client byte and its answer.
    pub server_delay: Nanos,
    pub server: Vec<Piece>,
}

impl Turn {
    /// Pipelined requests and their responses.
    pub fn exchange(
        pause: Nanos,
        requests: Vec<Vec<Piece>>,
        server_delay: Nanos,
        responses: Vec<Vec<Piece>>,
    ) -> Turn {
        Turn {
            pause,
            client: requests.into_iter().flatten().collect(),
            server_delay,
            server: responses.into_iter().flatten().collect(),
        }
    }
}

/// How a connection ends once its script has no more turns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Close {
    /// Idle time after the last turn.
    pub after: Nanos,
    pub by_client: bool,
    pub reset: bool,
}

pub trait Script {
    /// The next turn, made at `now` (the time stamped in `Date` headers); `None` when done.
    fn next_turn(&mut self, now: Nanos, rng: &mut Rng) -> Option<Turn>;
    fn close(&self, rng: &mut Rng) -> Close;
}
