#!/usr/bin/env python3
"""Where affinity-audit's time goes, by pipeline stage, from a `perf record --call-graph` run.

    perf script -i perf.data -F comm,tid,period,ip,sym | bench/perf-stages.py

Each sample is charged to the stage of the innermost frame that is either project code
(`affinity_audit::<stage>::...`, also inside generic parameters and trait impls) or polars /
arrow / parquet code (the report's table writers). So a `memcpy` called from the capture reader
counts for `capture`, a hash lookup in the connection table for `reassembly`, and everything
polars does for `report (polars)`. Samples with no such frame (process start-up, exit, the
kernel on behalf of nothing we can name) are `other`.

Prints a Markdown table: stage, samples, share, and the seconds they stand for.
"""

import re
import sys
from collections import Counter

# Pipeline order for the table; modules not listed (new stages) follow, by name.
STAGES = ["capture", "decode", "reassembly", "http", "tls", "evidence", "audit", "pipeline", "report", "cli"]
PROJECT = re.compile(r"affinity_audit::(\w+)")
POLARS = re.compile(r"\b(polars\w*|arrow\w*|parquet\w*)::")


def stage_of(frames):
    """The stage of the innermost project or polars frame (frames are leaf first)."""
    for symbol in frames:
        if POLARS.search(symbol):
            return "report (polars)"
        match = PROJECT.search(symbol)
        if match:
            return match.group(1)
    return "other"


def samples(lines):
    """(period, thread, frames) per sample of `perf script -F comm,tid,period,ip,sym` output:
    a header line `comm tid period`, then one indented `address symbol` line per frame."""
    header, frames = None, []
    for line in lines:
        line = line.rstrip("\n")
        if not line.strip():
            if header:
                yield header[0], header[1], frames
            header, frames = None, []
        elif not line.startswith((" ", "\t")):
            fields = line.split()
            header = (int(fields[-1]), fields[-2])
        else:
            parts = line.strip().split(None, 1)
            frames.append(parts[1] if len(parts) > 1 else parts[0])
    if header:
        yield header[0], header[1], frames


def main():
    periods = Counter()
    threads = Counter()
    for period, thread, frames in samples(sys.stdin):
        periods[stage_of(frames)] += period
        threads[thread] += period
    total = sum(periods.values())
    if total == 0:
        sys.exit("perf-stages: no samples on stdin")
    def rank(stage):
        known = STAGES + ["report (polars)"]
        return (0, known.index(stage), "") if stage in known else (1 if stage != "other" else 2, 0, stage)

    print("| stage | share of CPU samples | seconds |")
    print("|---|---:|---:|")
    for stage in sorted(periods, key=rank):
        nanos = periods[stage]
        print(f"| {stage} | {100 * nanos / total:.1f} % | {nanos / 1e9:.2f} |")
    print(f"| **total** | 100 % | {total / 1e9:.2f} |")
    print(f"\nthreads sampled: {len(threads)} (main thread {100 * max(threads.values()) / total:.1f} % of samples)")


if __name__ == "__main__":
    main()
