#!/usr/bin/env bash
# Benchmark of `affinity-audit analyze` on generated Exchange captures and a replay of the lab's
# real HAProxy captures, side by side with the tshark field extraction it replaces (issue 7),
# and with each report format alone (`--formats`) to measure encoding apart. Prints Markdown
# tables; BENCHMARKS.md holds the results and how to read them.
#
#   bench/run.sh                    256 MiB and 1 GiB captures
#   BENCH_LARGE=1 bench/run.sh      also 4 GiB, and the lab mix at 1 and 4 GiB (memory as the
#                                   capture grows)
#
# Settings (environment):
#   BENCH_SIZES     sizes to generate, e.g. "64MiB 256MiB" (default "256MiB 1GiB", + 4GiB if large)
#   BENCH_DIR       where captures and reports go (default /var/tmp/affinity-bench; not the repo)
#   BENCH_SEED, BENCH_CLIENTS, BENCH_FORMAT   generator settings (1, 5000, pcap)
#   BENCH_REPEAT    analyze runs per capture, the fastest is kept (default 3)
#   BENCH_TSHARK_MAX_MB  run tshark on captures up to this size (default 1100: up to the 1 GiB
#                   one; tshark needs a minute and 2 GB of memory per GB of capture; 0: never)
#   BENCH_PROFILE   1 (default) | 0: perf profile of analyze, by stage, on the smallest generated
#                   capture and on the lab mix
#   BENCH_LAB_MIX   sizes of the lab mix (default "100MiB", "100MiB 1GiB 4GiB" if large; 0: none):
#                   the real HAProxy captures of samples/lab/ played back to back
#                   (`affinity-lab replay`), a transaction-dense mix like the 16 MB HAProxy
#                   capture of issue 7
#   BENCH_GZIP      1 (default) | 0: also a gzip (-1) of the smallest generated capture: with two
#                   threads it is inflated on a thread of its own (its MB/s count gzip bytes)
#
# Every capture is read once before timing so that all tools read it from the page cache.
set -euo pipefail

REPO_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/cache/affinity-audit/target}
BENCH_DIR=${BENCH_DIR:-/var/tmp/affinity-bench}
SEED=${BENCH_SEED:-1}
CLIENTS=${BENCH_CLIENTS:-5000}
FORMAT=${BENCH_FORMAT:-pcap}
REPEAT=${BENCH_REPEAT:-3}
TSHARK_MAX_MB=${BENCH_TSHARK_MAX_MB:-1100}
PROFILE=${BENCH_PROFILE:-1}
if [ "${BENCH_LARGE:-0}" = 1 ]; then LAB_MIX=${BENCH_LAB_MIX:-100MiB 1GiB 4GiB}; else LAB_MIX=${BENCH_LAB_MIX:-100MiB}; fi
LAB_MIXES=()
[ "$LAB_MIX" != 0 ] && read -r -a LAB_MIXES <<<"$LAB_MIX"
if [ -n "${BENCH_SIZES:-}" ]; then
    read -r -a SIZES <<<"$BENCH_SIZES"
elif [ "${BENCH_LARGE:-0}" = 1 ]; then
    SIZES=(256MiB 1GiB 4GiB)
else
    SIZES=(256MiB 1GiB)
fi
AUDIT=$CARGO_TARGET_DIR/release/affinity-audit
LAB=$CARGO_TARGET_DIR/release/affinity-lab
TSHARK_FIELDS=(-e ip.src -e ip.dst -e tcp.stream -e http.request.method -e http.request.uri
    -e http.cookie -e http.authorization -e http.x_forwarded_for -e tls.handshake.session_id)

die() { echo "bench: $*" >&2; exit 1; }
log() { echo "bench: $*" >&2; }

# --- measuring -------------------------------------------------------------------------------

# measure OUT STDOUT CMD...: runs CMD under /usr/bin/time -v, its output to STDOUT; writes
# "wall cpu rss_kb" to OUT.
measure() {
    local out=$1 stdout=$2 raw
    shift 2
    raw=$(mktemp)
    /usr/bin/time -v -o "$raw" "$@" >"$stdout"
    awk -F': ' '
        /Elapsed \(wall clock\)/ { n = split($2, p, ":"); wall = 0; for (i = 1; i <= n; i++) wall = wall * 60 + p[i] }
        /User time \(seconds\)/ { cpu += $2 }
        /System time \(seconds\)/ { cpu += $2 }
        /Maximum resident set size/ { rss = $2 }
        END { printf "%.3f %.3f %d\n", wall, cpu, rss }' "$raw" >"$out"
    rm -f "$raw"
}

# best_of N OUT CMD...: the run with the shortest wall time of N.
best_of() {
    local runs=$1 out=$2 try
    shift 2
    try=$(mktemp)
    : >"$out"
    for _ in $(seq "$runs"); do
        measure "$try" /dev/null "$@"
        if [ ! -s "$out" ] || awk -v a="$(cut -d' ' -f1 "$try")" -v b="$(cut -d' ' -f1 "$out")" 'BEGIN { exit !(a < b) }'; then
            cp "$try" "$out"
        fi
    done
    rm -f "$try"
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
# share ALL WITHOUT: the share of ALL that a run WITHOUT something saved.
share() { awk -v all="$1" -v without="$2" 'BEGIN { if (all > 0) printf "%.0f %%", 100 * (all - without) / all; else print "-" }'; }
per_second() { awk -v n="$1" -v s="$2" -v unit="$3" 'BEGIN { if (s > 0) printf "%.1f", n / s / unit; else print "-" }'; }
summary_value() { sed -n "s/^- $2: \([0-9]*\).*/\1/p" "$1" | head -n1; }

# --- setup -----------------------------------------------------------------------------------

command -v /usr/bin/time >/dev/null || die "needs GNU time (apt-get install time)"
mkdir -p "$BENCH_DIR"
log "building release binaries (the first polars build takes a long time)"
(cd "$REPO_DIR" && cargo build --release -p affinity-audit -p affinity-lab) >&2
THREADS_OPTION=$("$AUDIT" analyze --help | grep -o -- '--threads' | head -n1 || true)

echo "## Machine"
echo
echo "- CPU: $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | sort -u | paste -sd';')"
echo "- memory: $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
echo "- kernel: $(uname -r); $(rustc --version 2>/dev/null || echo rustc ?)"
echo "- tshark: $(tshark --version 2>/dev/null | head -n1 || echo 'not installed')"
echo "- load before the runs: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "- source: $(git -C "$REPO_DIR" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$REPO_DIR" status --porcelain 2>/dev/null | grep -q . && echo ' with uncommitted changes')"
echo "- capture settings: seed $SEED, $CLIENTS clients, $FORMAT; analyze best of $REPEAT runs"
if [ -n "$THREADS_OPTION" ]; then
    echo "- analyze: --threads 1 and --threads $(nproc)"
else
    echo "- analyze has no --threads option: one pipeline thread (polars may add helper threads)"
fi
echo

# --- captures --------------------------------------------------------------------------------

CAPTURES=()
echo "## Captures"
echo
echo "| capture | bytes | generator wall s | generator CPU s | generator peak RSS MB | what the generator says |"
echo "|---|---:|---:|---:|---:|---|"
for size in "${SIZES[@]}"; do
    capture=$BENCH_DIR/exchange-seed$SEED-clients$CLIENTS-$size.$FORMAT
    stats=$BENCH_DIR/.gen-$size.stats
    # Deterministic: reuse a capture unless the generator changed since it was written.
    if [ ! -s "$capture" ] || [ ! -s "$stats.stdout" ] || [ "$LAB" -nt "$capture" ]; then
        log "generating $capture"
        measure "$stats" "$stats.stdout" "$LAB" generate --out "$capture" --size "$size" --seed "$SEED" --clients "$CLIENTS" --format "$FORMAT"
    fi
    read -r wall cpu rss <"$stats"
    echo "| $(basename "$capture") | $(stat -c %s "$capture") | $wall | $cpu | $((rss / 1024)) | $(cut -d: -f2- "$stats.stdout") |"
    CAPTURES+=("$capture")
done
for size in "${LAB_MIXES[@]}"; do
    capture=$BENCH_DIR/lab-mix-$size.pcap
    stats=$BENCH_DIR/.lab-mix-$size.stats
    if [ ! -s "$capture" ] || [ ! -s "$stats.stdout" ] || [ "$LAB" -nt "$capture" ]; then
        log "replaying the lab captures into $capture"
        measure "$stats" "$stats.stdout" "$LAB" replay --out "$capture" --size "$size" \
            --captures "$(printf '%s\n' "$REPO_DIR"/samples/lab/*/capture.pcap | paste -sd,)"
    fi
    read -r wall cpu rss <"$stats"
    echo "| $(basename "$capture") | $(stat -c %s "$capture") | $wall | $cpu | $((rss / 1024)) | $(cut -d: -f2- "$stats.stdout") |"
    CAPTURES+=("$capture")
done
if [ "${BENCH_GZIP:-1}" = 1 ]; then
    capture=$BENCH_DIR/$(basename "${CAPTURES[0]}").gz
    if [ ! -s "$capture" ] || [ "${CAPTURES[0]}" -nt "$capture" ]; then
        log "compressing ${CAPTURES[0]} into $capture"
        gzip -1 -c "${CAPTURES[0]}" >"$capture.part" && mv "$capture.part" "$capture"
    fi
    echo "| $(basename "$capture") | $(stat -c %s "$capture") | - | - | - | gzip -1 of $(basename "${CAPTURES[0]}") |"
    CAPTURES+=("$capture")
fi
echo

# --- analyze and tshark ----------------------------------------------------------------------

echo "## analyze vs tshark"
echo
echo "Load average when the table was made: $(cut -d' ' -f1-3 /proc/loadavg)."
echo
echo "| capture | threads | packets | transactions | wall s | CPU s | peak RSS MB | MB/s | k packets/s | speed-up vs 1 thread | tshark wall s | tshark CPU s | tshark RSS MB | tshark wall / analyze wall | tshark CPU / analyze CPU |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
if [ -n "$THREADS_OPTION" ]; then THREAD_RUNS=(1 "$(nproc)"); else THREAD_RUNS=(default); fi
single_wall=()
declare -A peak_rss
for index in "${!CAPTURES[@]}"; do
    capture=${CAPTURES[$index]}
    name=$(basename "$capture")
    bytes=$(stat -c %s "$capture")
    report=$BENCH_DIR/report-${name%.*}
    cat "$capture" >/dev/null
    tshark_cells="| - | - | - | - | -"
    run_tshark=no
    if [ "$bytes" -le $((TSHARK_MAX_MB * 1000000)) ] && command -v tshark >/dev/null; then
        run_tshark=yes
    fi
    if [ "$run_tshark" = yes ]; then
        log "tshark on $name (minutes)"
        measure "$BENCH_DIR/.tshark.stats" /dev/null tshark -r "$capture" -T fields "${TSHARK_FIELDS[@]}"
        read -r t_wall t_cpu t_rss <"$BENCH_DIR/.tshark.stats"
    fi
    for threads in "${THREAD_RUNS[@]}"; do
        extra=()
        [ "$threads" != default ] && extra=(--threads "$threads")
        log "analyze $name (threads: $threads)"
        best_of "$REPEAT" "$BENCH_DIR/.analyze.stats" \
            "$AUDIT" analyze "$capture" --out "$report" --quiet --progress never "${extra[@]}"
        read -r wall cpu rss <"$BENCH_DIR/.analyze.stats"
        packets=$(summary_value "$report/summary.md" packets)
        transactions=$(summary_value "$report/summary.md" transactions)
        if [ "$run_tshark" = yes ]; then
            tshark_cells="| $t_wall | $t_cpu | $((t_rss / 1024)) | $(ratio "$t_wall" "$wall") | $(ratio "$t_cpu" "$cpu")"
        fi
        if [ "$threads" = 1 ] || [ "$threads" = default ]; then
            single_wall[index]=$wall
        fi
        speedup=$(ratio "${single_wall[index]}" "$wall")
        echo "| $name | $threads | $packets | $transactions | $wall | $cpu | $((rss / 1024)) | $(per_second "$bytes" "$wall" 1e6) | $(per_second "$packets" "$wall" 1e3) | $speedup $tshark_cells |"
        peak_rss["$threads $name"]=$((rss / 1024))
    done
done
echo
# Memory as the capture grows: each capture's peak RSS against the 1 GiB capture of its kind
# (generated or lab mix: the name up to its size).
for threads in "${THREAD_RUNS[@]}"; do
    for key in "${!peak_rss[@]}"; do
        [ "${key%% *}" = "$threads" ] || continue
        name=${key#* }
        base_key="$threads ${name%-*}-1GiB.${name##*.}"
        [ -n "${peak_rss[$base_key]:-}" ] || continue
        echo "- threads $threads, $name: peak RSS ${peak_rss[$key]} MB, $(ratio "${peak_rss[$key]}" "${peak_rss[$base_key]}")x the 1 GiB capture's"
    done | sort
done
echo

# --- report encoding apart ------------------------------------------------------------------

# One thread, each format alone (`--formats`): what encoding each file costs.
if "$AUDIT" analyze --help | grep -q -- '--formats'; then
    echo "## Report encoding apart (one thread)"
    echo
    echo "| capture | both formats s | Parquet only s | CSV only s | CSV's share | Parquet's share |"
    echo "|---|---:|---:|---:|---:|---:|"
    for capture in "${CAPTURES[@]}"; do
        name=$(basename "$capture")
        walls=()
        for formats in csv,parquet parquet csv; do
            log "analyze $name (one thread, --formats $formats)"
            best_of "$REPEAT" "$BENCH_DIR/.formats.stats" \
                "$AUDIT" analyze "$capture" --out "$BENCH_DIR/report-formats" --quiet --progress never --threads 1 --formats "$formats"
            walls+=("$(cut -d' ' -f1 "$BENCH_DIR/.formats.stats")")
        done
        echo "| $name | ${walls[0]} | ${walls[1]} | ${walls[2]} | $(share "${walls[0]}" "${walls[1]}") | $(share "${walls[0]}" "${walls[2]}") |"
    done
    echo
fi

# --- where the time goes ---------------------------------------------------------------------

# The smallest generated capture, and the smallest lab mix if any (the other kind of traffic).
PROFILED=("${CAPTURES[0]}")
[ ${#LAB_MIXES[@]} -gt 0 ] && PROFILED+=("${CAPTURES[${#SIZES[@]}]}")
if [ "$PROFILE" = 1 ] && command -v perf >/dev/null; then
    for capture in "${PROFILED[@]}"; do
        data=$BENCH_DIR/perf-$(basename "${capture%.*}").data
        log "perf profile of analyze on $(basename "$capture")"
        # cpu-clock: virtual machines often have no hardware counters. DWARF call graphs, so
        # that inlined stage code is still named.
        perf record -q -e cpu-clock -F 4999 --call-graph dwarf,32768 -o "$data" \
            "$AUDIT" analyze "$capture" --out "$BENCH_DIR/report-profile" --quiet --progress never >/dev/null 2>&1
        echo "## Where analyze spends its time ($(basename "$capture"))"
        echo
        # With all cores (the default): one column per thread shows where each thread's time goes.
        perf script -i "$data" -F comm,tid,period,ip,sym 2>/dev/null | python3 "$REPO_DIR/bench/perf-stages.py" --threads
        echo
        echo "Top functions by self time:"
        echo
        echo '```'
        perf report -i "$data" --no-children --sort symbol -g none --percent-limit 1 --stdio 2>/dev/null |
            grep -v '^#' | grep -v '^$' | sed 's/[[:space:]-]*$//' | head -n 30
        echo '```'
        echo
    done
fi
