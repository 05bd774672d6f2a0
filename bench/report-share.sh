#!/usr/bin/env bash
# Report writing, measured apart (issue 7): the share of `analyze`'s CPU samples spent in our
# report code (src/report: row assembly, the files) and in polars / arrow / parquet (filling the
# column builders; encoding CSV and Parquet), with the tables encoded on the pipeline's thread
# (--threads 1) and on the background encoder thread (--threads 2), thread by thread.
#
#   bench/report-share.sh [CAPTURE]     default: $BENCH_DIR/exchange-seed1-clients5000-256MiB.pcap
#                                       (bench/run.sh generates it)
#
# Settings (environment):
#   BENCH_DIR       where the captures are (default /var/tmp/affinity-bench)
#   BENCH_THREADS   the --threads values to profile (default "1 2")
#   BENCH_RUNS      perf runs per --threads value, pooled (default 1; 3 steadies the shares)
#   BENCH_BINARY    profile this affinity-audit binary instead of building the tree's
#
# Needs perf; `perf script` resolving inlined frames takes a minute or so per run. Prints Markdown: per run, the report's rows of bench/perf-stages.py's table, one
# column per thread (the main thread, `audit`, `report-encoder-N`, polars' `polars-N` helpers).
set -euo pipefail

REPO_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/cache/affinity-audit/target}
BENCH_DIR=${BENCH_DIR:-/var/tmp/affinity-bench}
CAPTURE=${1:-$BENCH_DIR/exchange-seed1-clients5000-256MiB.pcap}
read -r -a THREAD_RUNS <<<"${BENCH_THREADS:-1 2}"
RUNS=${BENCH_RUNS:-1}

die() { echo "report-share: $*" >&2; exit 1; }

command -v perf >/dev/null || die "needs perf"
[ -s "$CAPTURE" ] || die "no capture $CAPTURE (BENCH_SIZES=256MiB bench/run.sh makes it)"
if [ -n "${BENCH_BINARY:-}" ]; then
    AUDIT=$BENCH_BINARY
else
    (cd "$REPO_DIR" && cargo build --release -p affinity-audit) >&2
    AUDIT=$CARGO_TARGET_DIR/release/affinity-audit
fi
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cat "$CAPTURE" >/dev/null

echo "## Report writing, measured apart ($(basename "$CAPTURE"))"
echo
echo "Share of all CPU samples of the run (perf cpu-clock, $RUNS run(s) pooled per row); load before: $(cut -d' ' -f1-3 /proc/loadavg)."
for threads in "${THREAD_RUNS[@]}"; do
    : >"$WORK/samples"
    for run in $(seq "$RUNS"); do
        # DWARF call graphs, so that inlined report code is still named; -N: no copy of the
        # (large) binary into perf's build-id cache.
        perf record -N -q -e cpu-clock -F 2999 --call-graph dwarf,16384 -o "$WORK/perf.data" \
            "$AUDIT" analyze "$CAPTURE" --out "$WORK/report" --quiet --progress never --threads "$threads" >/dev/null 2>&1 ||
            die "analyze --threads $threads failed (run $run)"
        perf script -i "$WORK/perf.data" -F comm,tid,period,ip,sym 2>/dev/null >>"$WORK/samples"
        echo >>"$WORK/samples"
    done
    echo
    echo "### --threads $threads"
    echo
    # The table's header, the report's rows and the totals; then the summary lines.
    python3 "$REPO_DIR/bench/perf-stages.py" --threads <"$WORK/samples" |
        awk '/^\| stage |^\|---|^\| report|^\| \*\*total|^$|^(report writing|threads sampled)/'
done
