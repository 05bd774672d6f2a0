//! `affinity-lab`: a load-balancer lab for affinity-audit. Stand-in Exchange 2010 CAS servers
//! (`cas-server`) and simulated Exchange clients (`clients`) run behind a real HAProxy, driven
//! by `lab/run-scenario.sh`, to produce captures whose ground truth is HAProxy's own log.
//! `generate` writes large synthetic captures of such a farm, for benchmarks; `replay` plays
//! real captures back to back to any size.

mod args;
mod base64;
mod cas;
mod clients;
mod clock;
mod eas;
mod exchange;
mod generate;
mod http;
mod rng;
mod rts;
mod token;

use std::process::ExitCode;

const USAGE: &str = "usage:
  affinity-lab cas-server --name CAS01 --listen 127.0.0.1:18001
  affinity-lab clients --vip 127.0.0.1:18080 --scenario NAME --seed N [--source-ips 127.0.1.1,127.0.1.2]
  affinity-lab generate --out FILE --size 1GiB [--seed N] [--format pcap|pcapng] [--clients N]
  affinity-lab replay --out FILE --size 100MiB --captures A.pcap,B.pcap [--format pcap|pcapng]";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.split_first() {
        Some((command, rest)) if command == "cas-server" => cas::run(rest),
        Some((command, rest)) if command == "clients" => clients::run(rest),
        Some((command, rest)) if command == "generate" => generate::run(rest),
        Some((command, rest)) if command == "replay" => generate::replay::run(rest),
        _ => Err(USAGE.to_owned()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("affinity-lab: {message}");
            ExitCode::FAILURE
        }
    }
}
