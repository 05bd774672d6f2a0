#!/usr/bin/env bash
# Regenerates reports/<sample>/ from the bundled samples, so a reader can see affinity-audit's
# output without running anything. Usage: reports/regenerate.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/affinity-audit/target}"
cargo build --quiet
bin="$CARGO_TARGET_DIR/debug/affinity-audit"

run() { # name, captures...
    local name=$1; shift
    rm -rf "reports/$name"
    "$bin" analyze --quiet --out "reports/$name" "$@"
}

run basic-http-curl samples/basic/http-curl.pcap
run tls-resumption samples/tls/tls12-resume-id.pcap samples/tls/tls12-resume-ticket.pcap samples/tls/tls13-resume-psk.pcap samples/tls/https-curl.pcap
for scenario in samples/lab/*/; do
    scenario=$(basename "$scenario")
    run "lab-$scenario" "samples/lab/$scenario/capture.pcap"
done
