#!/usr/bin/env bash
# What `affinity-audit analyze` does over time, for BENCHMARKS.md:
#
#   bench/timeline.sh cpu CAPTURE [THREADS]   CPU per thread per 50 ms (perf record -F 2000:
#                                             100 = one core busy for the whole 50 ms)
#   bench/timeline.sh rss CAPTURE [THREADS]   resident memory sampled every 20 ms: the peak, and
#                                             the lowest and highest value per half second
#
# THREADS defaults to 2. Reports go to a temporary folder, removed at the end. perf is needed
# for `cpu` (Debian: linux-perf).
set -euo pipefail
MODE=${1:?usage: bench/timeline.sh cpu|rss CAPTURE [THREADS]}
CAPTURE=${2:?usage: bench/timeline.sh cpu|rss CAPTURE [THREADS]}
THREADS=${3:-2}
REPO_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/cache/affinity-audit/target}
(cd "$REPO_DIR" && cargo build --quiet --release -p affinity-audit)
AUDIT=$CARGO_TARGET_DIR/release/affinity-audit
WORK=$(mktemp -d /tmp/affinity-timeline.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
RUN=("$AUDIT" analyze "$CAPTURE" --out "$WORK/report" --quiet --progress never --threads "$THREADS")
cat "$CAPTURE" >/dev/null # from the page cache, like bench/run.sh

case $MODE in
cpu)
    perf record -q -o "$WORK/perf.data" -e cpu-clock -F 2000 "${RUN[@]}" >/dev/null 2>&1
    perf script -i "$WORK/perf.data" -F comm,time 2>/dev/null | python3 -c '
import collections, sys
BUCKET = 0.05
samples = []
for line in sys.stdin:
    fields = line.split()
    if len(fields) >= 2:
        name = " ".join(fields[:-1])
        # Threads of one kind in one column: report-encoder-N, polars-N.
        for kind in ("report-encoder", "polars"):
            if name.startswith(kind):
                name = kind
        samples.append((float(fields[-1].rstrip(":")), name))
start = min(t for t, _ in samples)
buckets = collections.defaultdict(collections.Counter)
for t, name in samples:
    buckets[int((t - start) / BUCKET)][name] += 1
names = sorted({name for _, name in samples})
print("| ms | " + " | ".join(names) + " |")
print("|---:|" + "---:|" * len(names))
for b in sorted(buckets):
    print(f"| {b * 50} | " + " | ".join(str(buckets[b][n]) for n in names) + " |")
'
    ;;
rss)
    "${RUN[@]}" &
    pid=$!
    start=$(date +%s.%N)
    while kill -0 "$pid" 2>/dev/null; do
        rss=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
        [ -n "$rss" ] && echo "$(date +%s.%N) $start $rss"
        sleep 0.02
    done >"$WORK/rss"
    wait "$pid"
    python3 - "$WORK/rss" <<'EOF'
import collections, sys
rows = [line.split() for line in open(sys.argv[1])]
points = [(float(now) - float(start), int(kb) / 1000) for now, start, kb in rows]
peak = max(points, key=lambda p: p[1])
print(f"peak {peak[1]:.1f} MB at {peak[0]:.2f} s ({len(points)} samples)")
windows = collections.defaultdict(list)
for t, mb in points:
    windows[int(t / 0.5)].append(mb)
print("| s | lowest MB | highest MB |")
print("|---:|---:|---:|")
for w in sorted(windows):
    print(f"| {w * 0.5:.1f} | {min(windows[w]):.1f} | {max(windows[w]):.1f} |")
EOF
    ;;
*)
    echo "usage: bench/timeline.sh cpu|rss CAPTURE [THREADS]" >&2
    exit 2
    ;;
esac
