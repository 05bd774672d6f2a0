#!/usr/bin/env bash
# Runs one affinity-lab scenario and writes its captures and logs.
#
#   lab/run-scenario.sh SCENARIO [OUTDIR]      (OUTDIR defaults to samples/lab/SCENARIO)
#
# Three stand-in Exchange CAS servers (CAS01..03 on 127.0.0.1:18001..18003) run behind a real
# HAProxy configured from lab/scenarios/SCENARIO.cfg (VIP 127.0.0.1:18080, or :18443 for the TLS
# scenarios), tcpdump records lo, and `affinity-lab clients` plays the scenario's clients
# (seed from $SEED, default 6). Outputs: capture.pcap (both sides), client-side.pcap,
# cas-side.pcap, haproxy.log (ground truth: which server took each request), haproxy.cfg,
# cas.log (the servers' own request log), clients.log (per-client summary), events.log
# (mid-run events). Needs root (tcpdump); uses only 127.0.0.0/8. Every process it starts is
# stopped on exit.
set -euo pipefail

die() { echo "run-scenario: $*" >&2; exit 1; }

SCENARIO=${1:?usage: lab/run-scenario.sh SCENARIO [OUTDIR]}
LAB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(dirname "$LAB_DIR")
OUTDIR=${2:-$REPO_DIR/samples/lab/$SCENARIO}
SEED=${SEED:-6}
TEMPLATE=$LAB_DIR/scenarios/$SCENARIO.cfg
[ -f "$TEMPLATE" ] || die "unknown scenario '$SCENARIO' (see $LAB_DIR/scenarios/)"
# Seconds after the clients start when failover kills CAS02 and drain drains it.
EVENT_AFTER=4
CAPTURE_FILTER='tcp and (port 18080 or port 18443 or portrange 18001-18003)'

# --- tools -----------------------------------------------------------------------------------
missing=()
for tool in haproxy:haproxy tcpdump:tcpdump openssl:openssl socat:socat ss:iproute2; do
    command -v "${tool%%:*}" >/dev/null || missing+=("${tool#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "run-scenario: installing ${missing[*]}" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/cache/affinity-audit/target}
(cd "$REPO_DIR" && cargo build --quiet -p affinity-lab)
LAB_BIN=$CARGO_TARGET_DIR/debug/affinity-lab

# --- process bookkeeping -------------------------------------------------------------------
RUNDIR=$(mktemp -d /tmp/affinity-lab.XXXXXX)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$RUNDIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_listening() { # port
    for _ in $(seq 100); do
        [ -n "$(ss -Hltn "sport = :$1")" ] && return 0
        sleep 0.05
    done
    die "nothing listens on port $1"
}

# Stops a process we started and waits for it (at most ~3 s before SIGKILL; then fails).
stop() { # pid signal
    kill "-$2" "$1" 2>/dev/null || return 0
    for _ in $(seq 60); do
        kill -0 "$1" 2>/dev/null || { wait "$1" 2>/dev/null || true; return 0; }
        sleep 0.05
    done
    kill -KILL "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
    return 1
}

# Returns once FILE has kept its size for 0.3 s (at most ~5 s).
wait_file_settles() { # file
    local last=-1 size stable=0
    for _ in $(seq 50); do
        size=$(stat -c %s "$1")
        if [ "$size" = "$last" ]; then
            stable=$((stable + 1))
            [ "$stable" -ge 3 ] && return 0
        else
            stable=0
        fi
        last=$size
        sleep 0.1
    done
}

# Whether tcpdump (stopped) wrote every packet its filter took. On lo the kernel passes each
# packet to the filter twice (sent and received) and libpcap keeps one copy, so "received by
# filter" must be exactly twice "captured", and nothing "dropped by kernel".
capture_complete() { # tcpdump's stderr
    local captured received dropped
    captured=$(sed -n 's/^\([0-9]*\) packets\? captured$/\1/p' "$1")
    received=$(sed -n 's/^\([0-9]*\) packets\? received by filter$/\1/p' "$1")
    dropped=$(sed -n 's/^\([0-9]*\) packets\? dropped by kernel$/\1/p' "$1")
    [ -n "$captured" ] && [ "$received" = $((2 * captured)) ] && [ "$dropped" = 0 ]
}

event() { echo "$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ) $*" >>"$RUNDIR/events.log"; }

# --- servers -------------------------------------------------------------------------------
case $SCENARIO in
    tls-*)
        VIP=127.0.0.1:18443
        openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=mail.contoso.test \
            -addext subjectAltName=DNS:mail.contoso.test,DNS:*.contoso.test \
            -keyout "$RUNDIR/lab.key" -out "$RUNDIR/lab.crt" 2>/dev/null
        cat "$RUNDIR/lab.crt" "$RUNDIR/lab.key" >"$RUNDIR/lab.pem"
        ;;
    *) VIP=127.0.0.1:18080 ;;
esac
declare -A CAS_PID
for n in 1 2 3; do
    if [ "$SCENARIO" = tls-passthrough ]; then
        # The servers terminate TLS themselves: s_server serves files (-WWW), one health page
        # naming the server, TLS 1.2 with a session cache and no tickets, so that resumption
        # goes by session ID.
        mkdir -p "$RUNDIR/www$n/owa"
        printf '200 OK<br/>CAS0%d.contoso.test<br/>' "$n" >"$RUNDIR/www$n/owa/healthcheck.htm"
        (cd "$RUNDIR/www$n" && exec openssl s_server -accept "127.0.0.1:1800$n" -cert ../lab.crt -key ../lab.key \
            -tls1_2 -no_ticket -WWW -quiet) >"$RUNDIR/cas-CAS0$n.log" 2>&1 &
    else
        "$LAB_BIN" cas-server --name "CAS0$n" --listen "127.0.0.1:1800$n" 2>"$RUNDIR/cas-CAS0$n.log" &
    fi
    CAS_PID[$n]=$!
    PIDS+=("$!")
done
for n in 1 2 3; do wait_listening "1800$n"; done

# --- capture, then the balancer --------------------------------------------------------------
# --immediate-mode: without it libpcap hands packets over in blocks that close after up to 1 s,
# and the open block is lost when tcpdump stops: the capture would end up to a second before the
# run does, cutting through its last transactions. Immediate mode gives every packet a frame of
# the snapshot length, so the ring is enlarged (-B, KiB): the default 2 MiB drops packets in bursts.
tcpdump -i lo -s 0 -B 32768 -U --immediate-mode -Z root -w "$RUNDIR/capture.pcap" "$CAPTURE_FILTER" 2>"$RUNDIR/tcpdump.log" &
TCPDUMP_PID=$!
PIDS+=("$TCPDUMP_PID")
for _ in $(seq 100); do grep -q "listening on" "$RUNDIR/tcpdump.log" && break; sleep 0.05; done
grep -q "listening on" "$RUNDIR/tcpdump.log" || die "tcpdump did not start: $(cat "$RUNDIR/tcpdump.log")"

sed "s|@RUNDIR@|$RUNDIR|g" "$TEMPLATE" >"$RUNDIR/haproxy.cfg"
haproxy -c -q -f "$RUNDIR/haproxy.cfg" || die "haproxy rejects $TEMPLATE"
# TZ=UTC: the log's dates are HAProxy's local time.
TZ=UTC haproxy -db -f "$RUNDIR/haproxy.cfg" >"$RUNDIR/haproxy.log" 2>"$RUNDIR/haproxy.stderr" &
HAPROXY_PID=$!
PIDS+=("$HAPROXY_PID")
wait_listening "${VIP##*:}"
touch "$RUNDIR/events.log"
event "haproxy started ($SCENARIO), clients start (seed $SEED)"

# --- clients and the mid-run event -----------------------------------------------------------
# TMPDIR: the clients' TLS session files go to the run's directory, removed even if they are killed.
TMPDIR=$RUNDIR "$LAB_BIN" clients --vip "$VIP" --scenario "$SCENARIO" --seed "$SEED" >"$RUNDIR/clients.log" 2>&1 &
CLIENTS_PID=$!
PIDS+=("$CLIENTS_PID")
case $SCENARIO in
    failover)
        sleep "$EVENT_AFTER"
        event "CAS02 killed (SIGKILL)"
        kill -KILL "${CAS_PID[2]}"
        wait "${CAS_PID[2]}" 2>/dev/null || true
        ;;
    drain)
        sleep "$EVENT_AFTER"
        answer=$(echo "set server be_cas/CAS02 state drain" | socat stdio "unix-connect:$RUNDIR/haproxy.sock" | tr -d '\n')
        event "set server be_cas/CAS02 state drain (admin socket answer: '${answer}')"
        ;;
esac
clients_status=0
wait "$CLIENTS_PID" || clients_status=$?
event "clients done (exit $clients_status)"

# --- stop: balancer (soft stop, logs flushed), servers, then the capture once it has all ------
sleep 0.5
# A killed HAProxy would not have logged the requests it still held: its log would not be the truth.
stop "$HAPROXY_PID" USR1 || die "haproxy did not finish its soft stop within 3 s"
for n in 1 2 3; do stop "${CAS_PID[$n]}" TERM || true; done
# Nothing sends any more; tcpdump drops what it has not read yet when it stops, so let it catch up.
wait_file_settles "$RUNDIR/capture.pcap"
stop "$TCPDUMP_PID" INT || true
capture_complete "$RUNDIR/tcpdump.log" || die "incomplete capture: $(tail -n 3 "$RUNDIR/tcpdump.log" | tr '\n' ' ')"

mkdir -p "$OUTDIR"
cp "$RUNDIR/capture.pcap" "$OUTDIR/capture.pcap"
tcpdump -Z root -r "$RUNDIR/capture.pcap" -w "$OUTDIR/client-side.pcap" 'tcp port 18080 or tcp port 18443' 2>/dev/null
tcpdump -Z root -r "$RUNDIR/capture.pcap" -w "$OUTDIR/cas-side.pcap" 'tcp portrange 18001-18003' 2>/dev/null
cp "$RUNDIR/haproxy.log" "$RUNDIR/haproxy.cfg" "$RUNDIR/clients.log" "$RUNDIR/events.log" "$OUTDIR/"
if [ "$SCENARIO" = tls-passthrough ]; then
    rm -f "$OUTDIR/cas.log"  # s_server keeps no request log
else
    sort -s -k1,1 "$RUNDIR"/cas-CAS0?.log >"$OUTDIR/cas.log"
fi

echo "$SCENARIO: $(grep -c . "$OUTDIR/haproxy.log") haproxy log lines, clients exit $clients_status -> $OUTDIR"
ls -l "$OUTDIR"
[ "$clients_status" -eq 0 ] || die "clients failed (see $OUTDIR/clients.log)"
