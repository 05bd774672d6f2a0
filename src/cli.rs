//! The command line: `affinity-audit analyze` and `affinity-audit columns`.
//!
//! Exit codes: 0 when the report was written, 2 on an error (bad arguments, unreadable
//! capture, report not writable).

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use crate::capture::ReadOrder;
use crate::evidence::EvidenceConfig;
use crate::http::HttpConfig;
use crate::pipeline::{analyze, AnalyzeOptions};
use crate::reassembly::ReassemblyConfig;
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
    Analyze(AnalyzeArgs),
    /// Print the columns of every report table, as Markdown.
    Columns,
}

#[derive(clap::Args, Debug)]
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
    /// Progress bar on stderr: auto draws it for large captures when stderr is a terminal.
    #[arg(long, value_enum, default_value_t = Progress::Auto)]
    progress: Progress,
    /// Do not print the summary.
    #[arg(long, short)]
    quiet: bool,
}

#[derive(Copy, Clone, Debug, ValueEnum)]
enum Order {
    /// Merge the packets of all files by timestamp.
    Merge,
    /// Read the files one after the other, as given.
    Given,
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
        Command::Analyze(args) => run_analyze(args),
        Command::Columns => {
            print!("{}", columns_markdown());
            0
        }
    }
}

fn run_analyze(args: AnalyzeArgs) -> i32 {
    let total: u64 = args.captures.iter().filter_map(|p| std::fs::metadata(p).ok()).map(|m| m.len()).sum();
    let progress = match args.progress {
        Progress::Always => true,
        Progress::Never => false,
        Progress::Auto => total >= PROGRESS_MIN_BYTES && std::io::stderr().is_terminal(),
    };
    let opts = AnalyzeOptions {
        captures: args.captures,
        order: match args.order {
            Order::Merge => ReadOrder::MergeByTime,
            Order::Given => ReadOrder::AsGiven,
        },
        out_dir: args.out,
        reassembly: ReassemblyConfig {
            max_out_of_order_bytes: args.max_out_of_order_bytes,
            idle_timeout_secs: args.idle_timeout,
            ..ReassemblyConfig::default()
        },
        http: HttpConfig { max_header_bytes: args.max_header_bytes, ..HttpConfig::default() },
        evidence: EvidenceConfig { extra_cookies: args.cookies, health_paths: args.health_paths, ..EvidenceConfig::default() },
        progress,
    };
    match analyze(&opts) {
        Ok(summary) => {
            let markdown = summary.to_markdown();
            if let Err(e) = crate::report::write_atomically(&opts.out_dir.join("summary.md"), markdown.as_bytes()) {
                eprintln!("affinity-audit: {e}");
                return 2;
            }
            for issue in &summary.capture_issues {
                eprintln!("affinity-audit: warning: {issue}");
            }
            if !args.quiet {
                print!("{markdown}");
            }
            if summary.capture.packets == 0 && !summary.capture_issues.is_empty() {
                eprintln!("affinity-audit: no packet could be read");
                return 2;
            }
            0
        }
        Err(e) => {
            eprintln!("affinity-audit: {e}");
            2
        }
    }
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
