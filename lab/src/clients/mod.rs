//! `clients`: the simulated Exchange clients of one scenario, bounded in number and time and
//! deterministic from the seed (see `plan`). Every actor runs on its own thread(s); at the end
//! one summary line per actor goes to stdout, in plan order: which servers answered it
//! (`X-FEServer`), with which statuses, and what failed. Nothing printed holds a password.

mod ews;
mod jar;
mod link;
mod net;
mod outlook;
mod owa;
mod phone;
mod plan;
mod resume;
#[cfg(test)]
mod tests;

use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::PathBuf;
use std::process;
use std::thread;
use std::time::{Duration, Instant};

use crate::args::Flags;
use net::Dialer;
use plan::{Plan, SCENARIOS};

/// Actors stop starting new steps after this.
const RUN_TIME: Duration = Duration::from_secs(15);
/// Whatever still hangs (a TLS pipe has no read timeout) is cut here.
const HARD_LIMIT: Duration = Duration::from_secs(19);

/// The run's time line: actors' start offsets count from `start`; nothing starts after `end`.
pub struct Clock {
    start: Instant,
    end: Instant,
}

impl Clock {
    pub fn new(run_time: Duration) -> Clock {
        let start = Instant::now();
        Clock {
            start,
            end: start + run_time,
        }
    }

    pub fn remaining(&self) -> Duration {
        self.end.saturating_duration_since(Instant::now())
    }

    /// Sleeps until `offset` after the start; false if the run is over by then.
    pub fn sleep_until(&self, offset: Duration) -> bool {
        self.sleep((self.start + offset).saturating_duration_since(Instant::now()))
    }

    /// Sleeps for `pause`, cut at the end of the run; false if the run is over.
    pub fn sleep(&self, pause: Duration) -> bool {
        thread::sleep(pause.min(self.remaining()));
        !self.remaining().is_zero()
    }
}

pub fn run(args: &[String]) -> Result<(), String> {
    let flags = Flags::parse(args, &["vip", "scenario", "seed", "source-ips"])?;
    let vip: SocketAddrV4 = flags.required("vip")?;
    let scenario: String = flags.required("scenario")?;
    let seed: u64 = flags.required("seed")?;
    if !SCENARIOS.contains(&scenario.as_str()) {
        return Err(format!(
            "unknown scenario {scenario:?} (known: {})",
            SCENARIOS.join(", ")
        ));
    }
    let pool = flags
        .list::<Ipv4Addr>("source-ips")?
        .or_else(|| plan::default_pool(&scenario));
    let plan = Plan::build(plan::workload(&scenario), seed, pool);
    let dialer = Dialer {
        vip,
        transport: plan::transport(&scenario),
    };
    println!("scenario {scenario} seed {seed} vip {vip}");
    thread::spawn(|| {
        thread::sleep(HARD_LIMIT);
        eprintln!("affinity-lab clients: hard time limit reached, exiting");
        process::exit(3);
    });
    // TLS session files, for the clients that resume; removed at the end.
    let sessions = SessionDir::create()?;
    for line in run_plan(&plan, &dialer, &Clock::new(RUN_TIME), &sessions.0) {
        println!("{line}");
    }
    Ok(())
}

/// Runs every actor of the plan concurrently; returns their summaries in plan order.
fn run_plan(
    plan: &Plan,
    dialer: &Dialer,
    clock: &Clock,
    session_dir: &std::path::Path,
) -> Vec<String> {
    thread::scope(|scope| {
        let mut handles = Vec::new();
        handles.extend(
            plan.browsers
                .iter()
                .map(|browser| scope.spawn(|| owa::run(browser, dialer, clock))),
        );
        handles.extend(
            plan.ews
                .iter()
                .map(|client| scope.spawn(|| ews::run(client, dialer, clock))),
        );
        handles.extend(
            plan.phones
                .iter()
                .map(|phone| scope.spawn(|| phone::run(phone, dialer, clock))),
        );
        handles.extend(
            plan.outlooks
                .iter()
                .map(|outlook| scope.spawn(|| outlook::run(outlook, dialer, clock))),
        );
        handles.extend(plan.resumers.iter().enumerate().map(|(index, resumer)| {
            let session_file = session_dir.join(format!("client{index}.session"));
            scope.spawn(move || resume::run(resumer, dialer, clock, &session_file))
        }));
        handles
            .into_iter()
            .map(|handle| {
                handle
                    .join()
                    .unwrap_or_else(|_| "actor panicked".to_owned())
            })
            .collect()
    })
}

/// A private directory (under `$TMPDIR`) for TLS session files, removed at the end of the run.
struct SessionDir(PathBuf);

impl SessionDir {
    fn create() -> Result<SessionDir, String> {
        let path = std::env::temp_dir().join(format!("affinity-lab-sessions-{}", process::id()));
        std::fs::create_dir_all(&path)
            .map_err(|error| format!("cannot create {}: {error}", path.display()))?;
        Ok(SessionDir(path))
    }
}

impl Drop for SessionDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
