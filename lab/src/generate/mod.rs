//! `generate`: writes a large, realistic capture of an Exchange 2010 CAS farm behind a balancer,
//! for benchmarks and scale tests.
//!
//! Contract:
//! - Deterministic: the same seed, size, format and client count give the same bytes.
//! - Streaming: packets are written as the simulation produces them; memory depends on the
//!   number of clients (their state and their live connections), not on the size asked for.
//! - The file stops at the last whole packet that fits in `--size`; connections still open
//!   then are cut, as in any capture.
//!
//! What is in it: thousands of clients (see `population`) — OWA and ECP browsers with forms
//! logon and cookies (`owa`), ActiveSync phones (`mobile`), Outlook Anywhere with Autodiscover,
//! OAB and long-lived RPC channels (`outlook`), EWS applications and health probes (`services`);
//! keep-alive, pipelining, chunked responses, `X-FEServer`, an F5 persistence cookie, NAT
//! groups, `X-Forwarded-For`, IPv6 and VLAN-tagged clients, TLS with session-id resumption
//! (`tls`), and TCP with handshakes, FIN and RST closes, missed, swapped and retransmitted
//! segments (`tcp`), all interleaved in time (`sim`).

mod connection;
mod farm;
mod frame;
mod message;
mod mobile;
mod outbox;
mod outlook;
mod owa;
mod population;
mod queue;
pub mod replay;
mod script;
mod services;
mod sim;
mod tcp;
mod time;
mod tls;
mod writer;

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

use crate::args::Flags;
use sim::{Simulation, Stats};
use time::{Nanos, CAPTURE_START, SECOND};
use writer::{CaptureWriter, Format};

const DEFAULT_SEED: u64 = 1;
const DEFAULT_CLIENTS: u32 = 5_000;
const WRITE_BUFFER: usize = 1 << 20;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    pub size: u64,
    pub seed: u64,
    pub format: Format,
    pub clients: u32,
}

/// What was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub bytes: u64,
    pub packets: u64,
    pub duration: Nanos,
    pub stats: Stats,
}

pub fn run(args: &[String]) -> Result<(), String> {
    let flags = Flags::parse(args, &["out", "size", "seed", "format", "clients"])?;
    let out: PathBuf = flags.required("out")?;
    let size_text: String = flags.required("size")?;
    let size = parse_size(&size_text).ok_or_else(|| {
        format!("--size: cannot use {size_text:?} (e.g. 256MiB, 1GiB, 500MB, 1000000)")
    })?;
    let options = Options {
        size,
        seed: flags.optional("seed")?.unwrap_or(DEFAULT_SEED),
        format: flags.optional("format")?.unwrap_or(Format::Pcap),
        clients: flags.optional("clients")?.unwrap_or(DEFAULT_CLIENTS),
    };
    if options.clients == 0 {
        return Err("--clients must be at least 1".to_owned());
    }
    let file =
        File::create(&out).map_err(|error| format!("cannot create {}: {error}", out.display()))?;
    let outcome = generate(&options, BufWriter::with_capacity(WRITE_BUFFER, file))
        .map_err(|error| format!("writing {}: {error}", out.display()))?;
    println!(
        "{}: {} bytes, {} packets, {} s of traffic, {} clients, {} sessions, {} connections (at most {} open at once)",
        out.display(),
        outcome.bytes,
        outcome.packets,
        outcome.duration / SECOND,
        options.clients,
        outcome.stats.sessions,
        outcome.stats.connections,
        outcome.stats.peak_live_connections
    );
    Ok(())
}

/// Writes a capture of at most `options.size` bytes to `sink`.
pub fn generate<W: Write>(options: &Options, sink: W) -> io::Result<Outcome> {
    let mut writer = CaptureWriter::new(sink, options.format)?;
    let mut simulation = Simulation::new(options.seed, options.clients);
    let mut packets = 0;
    let mut last_time = CAPTURE_START;
    'simulation: loop {
        let horizon = simulation.advance();
        while let Some((time, frame)) = simulation.packets.pop_due(horizon) {
            if writer.bytes_written() + writer.record_len(frame.len()) > options.size {
                break 'simulation;
            }
            writer.write_packet(time, &frame)?;
            simulation.packets.recycle(frame);
            packets += 1;
            last_time = time;
        }
    }
    let bytes = writer.bytes_written();
    writer.finish()?;
    Ok(Outcome {
        bytes,
        packets,
        duration: last_time - CAPTURE_START,
        stats: simulation.stats,
    })
}

/// `1GiB`, `256MiB`, `64KiB`, `500MB`, `2GB`, `1000000`: binary or decimal units, no fractions.
pub fn parse_size(text: &str) -> Option<u64> {
    const UNITS: [(&str, u64); 7] = [
        ("GiB", 1 << 30),
        ("MiB", 1 << 20),
        ("KiB", 1 << 10),
        ("GB", 1_000_000_000),
        ("MB", 1_000_000),
        ("KB", 1_000),
        ("B", 1),
    ];
    let text = text.trim();
    let (digits, unit) = UNITS
        .iter()
        .find_map(|(suffix, unit)| text.strip_suffix(suffix).map(|digits| (digits, *unit)))
        .unwrap_or((text, 1));
    let value: u64 = digits.trim().parse().ok()?;
    value.checked_mul(unit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::fnv1a;

    fn generated(seed: u64, format: Format, size: u64) -> (Vec<u8>, Outcome) {
        let options = Options {
            size,
            seed,
            format,
            clients: 300,
        };
        let mut bytes = Vec::new();
        let outcome = generate(&options, &mut bytes).unwrap();
        (bytes, outcome)
    }

    #[test]
    fn same_seed_same_bytes() {
        let (a, outcome) = generated(7, Format::Pcap, 3 << 20);
        let (b, _) = generated(7, Format::Pcap, 3 << 20);
        assert_eq!(fnv1a(&a), fnv1a(&b));
        assert_eq!(a.len() as u64, outcome.bytes);
        let (c, _) = generated(8, Format::Pcap, 3 << 20);
        assert_ne!(fnv1a(&a), fnv1a(&c));
    }

    #[test]
    fn stops_at_the_last_packet_that_fits() {
        for format in [Format::Pcap, Format::Pcapng] {
            let size = 2 << 20;
            let (bytes, outcome) = generated(1, format, size);
            assert!(bytes.len() as u64 <= size);
            // A frame is at most 1518 bytes: the next record would not have fitted.
            assert!(
                bytes.len() as u64 > size - 1_600,
                "{format:?} {}",
                bytes.len()
            );
            assert!(outcome.packets > 1_000);
        }
    }

    #[test]
    fn both_formats_hold_the_same_packets() {
        let (pcap, a) = generated(2, Format::Pcap, 1 << 20);
        let (pcapng, b) = generated(2, Format::Pcapng, 1 << 20);
        assert_eq!(&pcap[..4], &[0xd4, 0xc3, 0xb2, 0xa1]);
        assert_eq!(&pcapng[..4], &[0x0a, 0x0d, 0x0d, 0x0a]);
        // pcapng spends more per packet, so fits fewer; the first ones are the same frames.
        assert!(b.packets < a.packets);
        let first_pcap_frame = &pcap[24 + 16..24 + 16 + 60];
        let first_pcapng_frame = &pcapng[48 + 28..48 + 28 + 60];
        assert_eq!(first_pcap_frame, first_pcapng_frame);
    }

    #[test]
    fn sizes_with_units() {
        assert_eq!(parse_size("1GiB"), Some(1 << 30));
        assert_eq!(parse_size("256MiB"), Some(256 << 20));
        assert_eq!(parse_size("64KiB"), Some(65_536));
        assert_eq!(parse_size("500MB"), Some(500_000_000));
        assert_eq!(parse_size("4 GB"), Some(4_000_000_000));
        assert_eq!(parse_size("1000000"), Some(1_000_000));
        assert_eq!(parse_size("12B"), Some(12));
        for bad in [
            "",
            "GiB",
            "1.5GiB",
            "-1MiB",
            "1TiB",
            "99999999999999999999GiB",
            "20000000000GiB",
        ] {
            assert_eq!(parse_size(bad), None, "{bad:?}");
        }
    }
}
