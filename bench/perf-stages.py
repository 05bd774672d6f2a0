#!/usr/bin/env python3
"""Where affinity-audit's time goes, by pipeline stage, from a `perf record --call-graph` run.

    perf script -i perf.data -F comm,tid,period,ip,sym | bench/perf-stages.py [--threads]

Each sample is charged to the stage of the innermost frame that is either project code
(`affinity_audit::<stage>::...`, also inside generic parameters and trait impls) or polars /
arrow / parquet code (the report's table writers). So a `memcpy` called from the capture reader
counts for `capture`, a hash lookup in the connection table for `reassembly`. Polars samples are
split in two: `report (polars: columns)` when the stack is filling the column builders (under
`TableWriter::push_row` or a `ColumnBuilder`), `report (polars: encoding)` for everything else
polars does (CSV and Parquet encoding, compression, on whichever thread). Samples with no such
frame (process start-up, exit, the kernel on behalf of nothing we can name) are `other`.

Prints a Markdown table: stage, samples, share, and the seconds they stand for; with `--threads`
also one column per thread (by name: the main thread, `audit`, `report-encoder-N`, polars'
`polars-N` helpers), each cell that stage's share of all samples spent on that thread. Then a
line with the share of report writing (`report` plus both polars rows).
"""

import re
import sys
from collections import Counter, defaultdict

POLARS_COLUMNS = "report (polars: columns)"
POLARS_ENCODING = "report (polars: encoding)"
# Pipeline order for the table; modules not listed (new stages) follow, by name.
STAGES = ["capture", "decode", "reassembly", "http", "tls", "evidence", "audit", "pipeline", "report", "cli"]
KNOWN = STAGES + [POLARS_COLUMNS, POLARS_ENCODING]
REPORT_WRITING = ["report", POLARS_COLUMNS, POLARS_ENCODING]
PROJECT = re.compile(r"affinity_audit::(\w+)")
POLARS = re.compile(r"\b(polars\w*|arrow\w*|parquet\w*)::")
BUILDING_COLUMNS = re.compile(r"\b(push_row|ColumnBuilder)\b")


def stage_of(frames):
    """The stage of the innermost project or polars frame (frames are leaf first)."""
    for symbol in frames:
        if POLARS.search(symbol):
            building = any(BUILDING_COLUMNS.search(frame) for frame in frames)
            return POLARS_COLUMNS if building else POLARS_ENCODING
        match = PROJECT.search(symbol)
        if match:
            return match.group(1)
    return "other"


def samples(lines):
    """(period, thread name, frames) per sample of `perf script -F comm,tid,period,ip,sym`
    output: a header line `comm tid period`, then one indented `address symbol` line per frame."""
    header, frames = None, []
    for line in lines:
        line = line.rstrip("\n")
        if not line.strip():
            if header:
                yield header[0], header[1], frames
            header, frames = None, []
        elif not line.startswith((" ", "\t")):
            fields = line.split()
            header = (int(fields[-1]), " ".join(fields[:-2]))
        else:
            parts = line.strip().split(None, 1)
            frames.append(parts[1] if len(parts) > 1 else parts[0])
    if header:
        yield header[0], header[1], frames


def rank(stage):
    return (0, KNOWN.index(stage), "") if stage in KNOWN else (1 if stage != "other" else 2, 0, stage)


def percent(part, total):
    return f"{100 * part / total:.1f} %"


def main():
    by_thread = "--threads" in sys.argv[1:]
    periods = defaultdict(Counter)  # stage -> thread -> nanoseconds
    threads = Counter()
    for period, thread, frames in samples(sys.stdin):
        periods[stage_of(frames)][thread] += period
        threads[thread] += period
    total = sum(threads.values())
    if total == 0:
        sys.exit("perf-stages: no samples on stdin")
    names = [name for name, _ in threads.most_common()] if by_thread else []

    print("| stage | share of CPU samples | seconds |" + "".join(f" {name} |" for name in names))
    print("|---|---:|---:|" + "---:|" * len(names))
    for stage in sorted(periods, key=rank):
        nanos = sum(periods[stage].values())
        cells = "".join(f" {percent(periods[stage][name], total)} |" for name in names)
        print(f"| {stage} | {percent(nanos, total)} | {nanos / 1e9:.2f} |{cells}")
    cells = "".join(f" {percent(threads[name], total)} |" for name in names)
    print(f"| **total** | 100 % | {total / 1e9:.2f} |{cells}")
    writing = sum(sum(periods[stage].values()) for stage in REPORT_WRITING)
    print(f"\nreport writing (report + polars): {percent(writing, total)} of samples")
    main_thread, main_nanos = threads.most_common(1)[0]
    print(f"threads sampled: {len(threads)} (busiest, {main_thread}: {percent(main_nanos, total)} of samples)")


if __name__ == "__main__":
    main()
