//! The command line: `affinity-audit analyze`, `affinity-audit check` and
//! `affinity-audit columns`.
//!
//! Exit codes: 0 when the report was written (and, for `check`, the policy holds), 1 when
//! `check` finds the policy broken (the reasons on stdout), 2 on an error (bad arguments or
//! policy, unreadable capture or naming file, report not writable).

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use crate::audit::policy::{CaptureFacts, Policy};
use crate::audit::{parse_key_list, AuditConfig, ExplainConfig, HotspotThresholds, KeyKind, ServerIdMode, ServerNames, SESSION_IDLE_LIMIT_SECS};
use crate::capture::ReadOrder;
use crate::evidence::EvidenceConfig;
use crate::http::HttpConfig;
use crate::pipeline::{analyze, AnalyzeOptions};
use crate::reassembly::ReassemblyConfig;
use crate::report::summary::IngestSummary;
use crate::report::table::Formats;
use crate::report::tables::all_tables;

/// Captures smaller than this get no progress bar: they are done before one would help.
const PROGRESS_MIN_BYTES: u64 = 64 << 20;

#[derive(Parser, Debug)]
#[command(name = "affinity-audit", version, about = "Audit load-balancer persistence of Exchange CAS farms from packet captures")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Read captures and write the report tables (CSV and Parquet) and summary.
    Analyze(AnalyzeCommand),
    /// Analyse like `analyze`, then hold the audit to a policy: exit 0 when it holds, 1 when not.
    Check(CheckArgs),
    /// Print the columns of every report table, as Markdown.
    Columns,
}

#[derive(clap::Args, Debug)]
struct AnalyzeCommand {
    #[command(flatten)]
    analysis: AnalyzeArgs,
    /// Write one report per capture file, in `OUT/capture=<file name>/`: Hive-style folders,
    /// which DuckDB, Spark and polars read as one table with a `capture` column. For captures
    /// of different places or times; captures of the same traffic (both sides of a balancer)
    /// belong in one report, where they are stitched.
    #[arg(long, value_enum, value_name = "WHAT")]
    partition_by: Option<Partition>,
}

#[derive(Copy, Clone, Debug, ValueEnum)]
enum Partition {
    /// One report per capture file.
    Capture,
}

#[derive(clap::Args, Debug)]
struct CheckArgs {
    /// TOML policy (see policies/exchange-2010.toml).
    #[arg(long, required = true)]
    policy: PathBuf,
    #[command(flatten)]
    analysis: AnalyzeArgs,
}

#[derive(clap::Args, Clone, Debug)]
struct AnalyzeArgs {
    /// pcap or pcapng files, optionally gzip-compressed.
    #[arg(required = true)]
    captures: Vec<PathBuf>,
    /// Folder for the report; created if missing, tables in it replaced.
    #[arg(long, default_value = "affinity-report")]
    out: PathBuf,
    /// How several captures are combined.
    #[arg(long, value_enum, default_value_t = Order::Merge)]
    order: Order,
    /// Cap on buffered out-of-order bytes per connection direction; beyond it, a gap.
    #[arg(long, default_value_t = ReassemblyConfig::default().max_out_of_order_bytes)]
    max_out_of_order_bytes: usize,
    /// Seconds without a packet after which a connection is closed as idle.
    #[arg(long, default_value_t = ReassemblyConfig::default().idle_timeout_secs)]
    idle_timeout: i64,
    /// Largest HTTP header block kept, in bytes.
    #[arg(long, default_value_t = HttpConfig::default().max_header_bytes)]
    max_header_bytes: usize,
    /// Extra cookie name to record (repeatable).
    #[arg(long = "cookie", value_name = "NAME")]
    cookies: Vec<String>,
    /// Extra health-probe path prefix (repeatable), e.g. /owa/healthcheck.htm.
    #[arg(long = "health-path", value_name = "PATH")]
    health_paths: Vec<String>,
    /// Extra balancer persistence cookie name (repeatable): an HAProxy backend's `cookie` name,
    /// a Kemp or nginx sticky cookie.
    #[arg(long = "lb-cookie", value_name = "NAME")]
    lb_cookies: Vec<String>,
    /// Evidence naming the server of a transaction: auto takes the most specific present
    /// (naming file, then X-FEServer/X-BEServer header, then balancer cookie, then the server
    /// address unless it is a VIP).
    #[arg(long, value_enum, default_value_t = ServerId::Auto)]
    server_id: ServerId,
    /// Naming file: lines `address[:port] name`, or `address[:port] vip` for the balancer's
    /// virtual addresses; `#` starts a comment.
    #[arg(long, value_name = "FILE")]
    servers: Option<PathBuf>,
    /// Session key priority for every application, comma-separated, from tls, cadata,
    /// sessionid, usercontext, cookie, device, user, source (like a balancer's "SSL ID, then
    /// cookie, then source IP": tls,cookie,source). Default: each application's own.
    #[arg(long, value_name = "LIST", value_parser = parse_keys)]
    keys: Option<Vec<KeyKind>>,
    /// Seconds a transaction waits for the other side of a balancer captured with it, and
    /// greatest gap between the starts of the two requests of a stitched pair.
    #[arg(long, value_name = "SECS", default_value_t = AuditConfig::default().stitch_window_secs)]
    stitch_window: f64,
    /// NAT hot-spot: fewest users behind one address.
    #[arg(long, default_value_t = HotspotThresholds::default().min_users)]
    hotspot_users: u64,
    /// NAT hot-spot: how far above its even share (fraction of it) a server's load must be.
    #[arg(long, default_value_t = HotspotThresholds::default().tilt)]
    hotspot_tilt: f64,
    /// NAT hot-spot: least share of that server's load coming from the address.
    #[arg(long, default_value_t = HotspotThresholds::default().min_share)]
    hotspot_share: f64,
    /// Failure evidence explains a move from this many seconds before it…
    #[arg(long, value_name = "SECS", default_value_t = ExplainConfig::default().before_secs)]
    explain_before: i64,
    /// …to this many seconds after it.
    #[arg(long, value_name = "SECS", default_value_t = ExplainConfig::default().after_secs)]
    explain_after: i64,
    /// A session idle this many seconds of capture time ends: it is judged and written then,
    /// and its key begins a new session if it comes back. Bounds memory on captures of days.
    /// Must exceed the explanation window, the connection idle timeout and the stitch window.
    #[arg(long, value_name = "SECS", default_value_t = SESSION_IDLE_LIMIT_SECS)]
    session_idle_limit: i64,
    /// Threads: 1 runs everything on one; 2 or more extract evidence, audit and write the report
    /// rows on a second, encode the report files on two more and read (and inflate) up to N-1
    /// capture files ahead (the tables are the same bytes either way). Default: the number of
    /// cores.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    threads: Option<u16>,
    /// The files each table is written to, comma-separated: csv, parquet (default: both). One
    /// alone saves its encoding time on very large captures.
    #[arg(long, value_enum, value_name = "LIST", value_delimiter = ',', default_values_t = [TableFormat::Csv, TableFormat::Parquet])]
    formats: Vec<TableFormat>,
    /// Progress bar on stderr: auto draws it for large captures when stderr is a terminal.
    #[arg(long, value_enum, default_value_t = Progress::Auto)]
    progress: Progress,
    /// Do not print the summary.
    #[arg(long, short)]
    quiet: bool,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum TableFormat {
    Csv,
    Parquet,
}

#[derive(Copy, Clone, Debug, ValueEnum)]
enum Order {
    /// Merge the packets of all files by timestamp.
    Merge,
    /// Read the files one after the other, as given.
    Given,
}

#[derive(Copy, Clone, Debug, ValueEnum)]
enum ServerId {
    Auto,
    Address,
    Header,
    Cookie,
    Names,
}

fn parse_keys(text: &str) -> Result<Vec<KeyKind>, String> {
    parse_key_list(text)
}

#[derive(Copy, Clone, Debug, ValueEnum)]
enum Progress {
    Auto,
    Always,
    Never,
}

/// Runs the command line; returns the process exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // --help and --version are not errors.
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return code;
        }
    };
    match cli.command {
        Command::Analyze(AnalyzeCommand { analysis, partition_by: None }) => run_analyze(analysis).map_or_else(|code| code, |_| 0),
        Command::Analyze(AnalyzeCommand { analysis, partition_by: Some(Partition::Capture) }) => run_partitioned(analysis),
        Command::Check(args) => run_check(args),
        Command::Columns => {
            print!("{}", columns_markdown());
            0
        }
    }
}

/// One thread per core the process may use.
fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The analysis the arguments describe; `Err` with the message when they are unusable.
fn analyze_options(args: &AnalyzeArgs) -> Result<AnalyzeOptions, String> {
    let total: u64 = args.captures.iter().filter_map(|p| std::fs::metadata(p).ok()).map(|m| m.len()).sum();
    let progress = match args.progress {
        Progress::Always => true,
        Progress::Never => false,
        Progress::Auto => total >= PROGRESS_MIN_BYTES && std::io::stderr().is_terminal(),
    };
    let server_names = match &args.servers {
        Some(path) => ServerNames::load(path)?,
        None => ServerNames::default(),
    };
    Ok(AnalyzeOptions {
        captures: args.captures.clone(),
        order: match args.order {
            Order::Merge => ReadOrder::MergeByTime,
            Order::Given => ReadOrder::AsGiven,
        },
        out_dir: args.out.clone(),
        reassembly: ReassemblyConfig {
            max_out_of_order_bytes: args.max_out_of_order_bytes,
            idle_timeout_secs: args.idle_timeout,
            ..ReassemblyConfig::default()
        },
        http: HttpConfig { max_header_bytes: args.max_header_bytes, ..HttpConfig::default() },
        evidence: EvidenceConfig {
            extra_cookies: args.cookies.clone(),
            health_paths: args.health_paths.clone(),
            lb_cookies: args.lb_cookies.clone(),
            ..EvidenceConfig::default()
        },
        audit: AuditConfig {
            server_id: match args.server_id {
                ServerId::Auto => ServerIdMode::Auto,
                ServerId::Address => ServerIdMode::Address,
                ServerId::Header => ServerIdMode::Header,
                ServerId::Cookie => ServerIdMode::Cookie,
                ServerId::Names => ServerIdMode::Names,
            },
            server_names,
            keys: args.keys.clone(),
            stitch_window_secs: args.stitch_window,
            hotspot: HotspotThresholds { min_users: args.hotspot_users, tilt: args.hotspot_tilt, min_share: args.hotspot_share },
            explain: ExplainConfig { before_secs: args.explain_before, after_secs: args.explain_after, ..ExplainConfig::default() },
            session_idle_limit_secs: session_idle_limit(args)?,
        },
        progress,
        threads: args.threads.map_or_else(default_threads, usize::from),
        formats: Formats { csv: args.formats.contains(&TableFormat::Csv), parquet: args.formats.contains(&TableFormat::Parquet) },
    })
}

/// The session idle limit, if it leaves time for all the evidence of a session's last move to
/// arrive before the session is judged: the move's explanation window, a connection idle until
/// its timeout (its failures count when it ends), the stitch window, and a minute to spare.
fn session_idle_limit(args: &AnalyzeArgs) -> Result<i64, String> {
    let latest_evidence = args.explain_after.max(0) + args.idle_timeout.max(0) + args.stitch_window.ceil() as i64 + 60;
    if args.session_idle_limit < latest_evidence {
        return Err(format!(
            "--session-idle-limit {} is too short: evidence of a session's last move can arrive {latest_evidence} s later (--explain-after, --idle-timeout, --stitch-window and a minute)",
            args.session_idle_limit
        ));
    }
    Ok(args.session_idle_limit)
}

/// Runs an analysis and writes its summary; `Err` holds the exit code of a failure.
fn run_analyze(args: AnalyzeArgs) -> Result<IngestSummary, i32> {
    let opts = analyze_options(&args).map_err(|e| {
        eprintln!("affinity-audit: {e}");
        2
    })?;
    let summary = analyze(&opts).map_err(|e| {
        eprintln!("affinity-audit: {e}");
        2
    })?;
    let markdown = summary.to_markdown();
    if let Err(e) = crate::report::write_atomically(&opts.out_dir.join("summary.md"), markdown.as_bytes()) {
        eprintln!("affinity-audit: {e}");
        return Err(2);
    }
    for issue in &summary.capture_issues {
        eprintln!("affinity-audit: warning: {issue}");
    }
    let capture = &summary.capture;
    if capture.truncated_packets > 0 {
        eprintln!(
            "affinity-audit: warning: {} packets were cut by the snap length: what they carried past the cut could not be read (capture with tcpdump -s 0)",
            capture.truncated_packets
        );
    }
    if capture.clock_steps_back > 0 {
        eprintln!(
            "affinity-audit: warning: the capture's timestamps step back {} times (largest {:.3} s); see the clock_step_back anomalies",
            capture.clock_steps_back,
            capture.largest_step_back_secs()
        );
    }
    if !args.quiet {
        print!("{markdown}");
    }
    if summary.capture.packets == 0 && !summary.capture_issues.is_empty() {
        eprintln!("affinity-audit: no packet could be read");
        return Err(2);
    }
    Ok(summary)
}

/// One analysis per capture, each into its partition folder; stops at the first failure.
fn run_partitioned(args: AnalyzeArgs) -> i32 {
    let folders = match partition_folders(&args.captures) {
        Ok(folders) => folders,
        Err(e) => {
            eprintln!("affinity-audit: {e}");
            return 2;
        }
    };
    for (capture, folder) in args.captures.iter().zip(folders) {
        let partition = AnalyzeArgs { captures: vec![capture.clone()], out: args.out.join(folder), ..args.clone() };
        if let Err(code) = run_analyze(partition) {
            return code;
        }
    }
    0
}

/// `capture=<file name>` for each capture, with the characters a Hive partition value or a
/// shell would trip on replaced by `_`. Two captures with the same name cannot share a folder.
fn partition_folders(captures: &[PathBuf]) -> Result<Vec<String>, String> {
    let mut folders: Vec<String> = Vec::with_capacity(captures.len());
    for capture in captures {
        let name = capture.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
        let value: String =
            name.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') { c } else { '_' }).collect();
        if value.is_empty() || value.chars().all(|c| c == '.') {
            return Err(format!("{}: a partition needs a capture file name", capture.display()));
        }
        let folder = format!("capture={value}");
        if folders.contains(&folder) {
            return Err(format!("{}: another capture already has the partition {folder}; rename one", capture.display()));
        }
        folders.push(folder);
    }
    Ok(folders)
}

fn run_check(args: CheckArgs) -> i32 {
    // Read the policy first: a broken policy should not cost an analysis.
    let policy = match Policy::load(&args.policy) {
        Ok(policy) => policy,
        Err(e) => {
            eprintln!("affinity-audit: {e}");
            return 2;
        }
    };
    let summary = match run_analyze(args.analysis) {
        Ok(summary) => summary,
        Err(code) => return code,
    };
    let Some(audit) = &summary.audit else {
        eprintln!("affinity-audit: the analysis produced no audit");
        return 2;
    };
    let capture = CaptureFacts {
        damage_notes: u64::try_from(summary.capture_issues.len()).unwrap_or(u64::MAX),
        packets_cut: summary.capture.truncated_packets,
        clock_steps_back: summary.capture.clock_steps_back,
    };
    let violations = policy.violations(audit, &capture);
    if violations.is_empty() {
        println!("policy {}: holds", args.policy.display());
        return 0;
    }
    println!("policy {}: {} rule(s) broken", args.policy.display(), violations.len());
    for v in &violations {
        println!("- {v}");
    }
    1
}

/// The column lists of every table, as Markdown: the README's section is this text.
pub fn columns_markdown() -> String {
    let mut out = String::new();
    for table in all_tables() {
        out.push_str(&format!("### `{}`\n\n{}\n\n| column | type | meaning | Zeek |\n|---|---|---|---|\n", table.name, table.doc));
        for c in table.columns {
            out.push_str(&format!("| `{}` | {} | {} | {} |\n", c.name, c.ty.as_str(), c.doc, c.zeek.map(|z| format!("`{z}`")).unwrap_or_default()));
        }
        out.push('\n');
    }
    out
}
