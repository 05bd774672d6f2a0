#!/usr/bin/env bash
# Regenerates the real loopback captures in samples/basic/ and samples/tls/ and their
# ground-truth files (*.truth.tsv). See samples/README.md for what each file holds.
#
# Needs root (tcpdump on lo/any). Uses only Debian packages and installs the missing ones.
# All traffic stays on loopback (127.0.0.1 and ::1); every client is bounded in time.
# The truth comes from the generating side (the HTTP server's log, s_client's own report and
# the client ports this script binds), never from parsing the captures.
# Idempotent: every output is rewritten; ports, timestamps and TLS keys differ between runs,
# request lists, statuses, users and cookie values do not.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
BASIC="$HERE/basic"
TLSDIR="$HERE/tls"
TOOLS="$HERE/tools"
PY=/usr/bin/python3
HTTP_PORT=8080
TLS_PORT=8443
ODD_TLS_PORT=9999
SNI=cas01.contoso.test
AS_USER='CONTOSO\jdoe'
# Fixture credential of the sample traffic (not a secret): tests check it never reaches output.
AS_PASSWORD='Secret-Pass-1'
# Fixed client ports for s_client (-bind), below the ephemeral range so they never collide.
TLS_CLIENT_PORT_BASE=31000

WORK=$(mktemp -d)
BG_PIDS=()        # every background process this script started
CAPTURE_PIDS=()   # the tcpdumps of the capture in progress
CAPTURE_ERRS=()   # and their stderr files (tcpdump's statistics)

cleanup() {
    local pid
    for pid in "${BG_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

log() { printf '== %s\n' "$*" >&2; }
die() { printf 'make-basic-captures: %s\n' "$*" >&2; exit 1; }

# --- tools ------------------------------------------------------------------------------------

ensure_packages() {
    local missing=() pair
    for pair in tcpdump:tcpdump curl:curl "$PY":python3 openssl:openssl tcprewrite:tcpreplay \
                editcap:wireshark-common capinfos:wireshark-common gzip:gzip; do
        command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
    done
    if ((${#missing[@]})); then
        log "installing ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
    [[ $(id -u) == 0 ]] || die "must run as root (tcpdump)"
}

# wait_until SECONDS COMMAND...: poll COMMAND every 0.1 s until it succeeds.
wait_until() {
    local deadline=$((SECONDS + $1)); shift
    until "$@"; do
        ((SECONDS < deadline)) || die "timed out waiting for: $*"
        sleep 0.1
    done
}

port_free() { ! ss -Htln "( sport = :$1 )" | grep -q .; }

# --- capture control --------------------------------------------------------------------------

# start_capture OUT FILTER TCPDUMP-ARGS...: start a tcpdump writing OUT; returns once it listens.
# --immediate-mode: otherwise TPACKET_V3 holds packets in blocks that SIGINT would drop.
# -B 32 MiB: in immediate mode each ring slot holds a whole snaplen (256 KiB), so the default
# 2 MiB ring has 8 slots and `-i any` (which sees loopback packets twice) drops bursts.
start_capture() {
    local out=$1 filter=$2; shift 2
    local err="$WORK/tcpdump.$(basename "$out").err"
    rm -f "$out"
    tcpdump --immediate-mode -B 32768 -U -w "$out" "$@" "$filter" 2>"$err" &
    BG_PIDS+=($!); CAPTURE_PIDS+=($!); CAPTURE_ERRS+=("$err")
    wait_until 10 grep -q 'listening on' "$err"
}

# stop_captures: let the last packets arrive, then SIGINT so each file ends on a whole record;
# a capture that lost packets in the kernel is not a sample of the traffic: fail.
stop_captures() {
    local pid err
    sleep 0.5
    for pid in "${CAPTURE_PIDS[@]}"; do kill -INT "$pid"; done
    for pid in "${CAPTURE_PIDS[@]}"; do wait "$pid"; done
    for err in "${CAPTURE_ERRS[@]}"; do
        grep -q '^0 packets dropped by kernel' "$err" || die "tcpdump lost packets: $(cat "$err")"
    done
    CAPTURE_PIDS=(); CAPTURE_ERRS=()
}

# --- HTTP server ------------------------------------------------------------------------------

# start_cas_server TRUTH ARGS...: start tools/cas_http_server.py, return once it listens.
start_cas_server() {
    local truth=$1; shift
    rm -f "$WORK/ready"
    "$PY" "$TOOLS/cas_http_server.py" --truth "$truth" --password "$AS_PASSWORD" \
        --ready "$WORK/ready" "$@" &
    BG_PIDS+=($!); CAS_SERVER_PID=$!
    wait_until 10 test -e "$WORK/ready"
}

stop_cas_server() { kill "$CAS_SERVER_PID"; wait "$CAS_SERVER_PID" || true; }

http() { curl -sS --max-time 10 "$@" >/dev/null; }

# The client side of basic/http-curl.pcap; README.md lists these in the same order.
run_http_clients() {
    local base="http://127.0.0.1:$HTTP_PORT" jar="$WORK/cookies.txt"
    printf '\x03\x01\x6a\x00\x00\x00\x45\x5c\x4f\x50\x03Email\x00\x01\x01\x01\x01' >"$WORK/sync.wbxml"
    rm -f "$jar"

    http -c "$jar" "$base/owa/"                                            # 1 logon: cookies set
    http --cookie "$jar" "$base/owa/"                                      # 2 comes back with them
    http "$base/owa/" "$base/chunked" "$base/owa/resources/logo.png"       # 3 keep-alive, 3 requests
    http -H 'X-Forwarded-For: 198.51.100.7' "$base/owa/"                   # 4 behind a proxy
    http --http1.0 "$base/owa/"                                            # 5 HTTP/1.0, close
    http -u "$AS_USER:$AS_PASSWORD" -A 'Apple-iPhone9C1/1402.100' \
        -H 'MS-ASProtocolVersion: 14.1' -H 'Content-Type: application/vnd.ms-sync.wbxml' \
        --data-binary "@$WORK/sync.wbxml" \
        "$base/Microsoft-Server-ActiveSync?Cmd=Sync&User=jdoe&DeviceId=ABC123&DeviceType=iPhone"  # 6
    http --anyauth -u "$AS_USER:$AS_PASSWORD" "$base/ews/exchange.asmx"    # 7 401, then 200
    http -H 'If-None-Match: "logo-v1"' "$base/owa/resources/logo.png"      # 8 304
    http -I "$base/owa/healthcheck.htm"                                    # 9 HEAD
    "$PY" "$TOOLS/pipelined_client.py" 127.0.0.1 "$HTTP_PORT"              # 10 pipelined x3
    http -g "http://[::1]:$HTTP_PORT/owa/"                                 # 11 over IPv6
}

make_http_captures() {
    log "basic/: HTTP on 127.0.0.1:$HTTP_PORT and [::1]:$HTTP_PORT"
    port_free "$HTTP_PORT" || die "port $HTTP_PORT is in use"
    start_cas_server "$BASIC/http-curl.truth.tsv" \
        --listen "127.0.0.1:$HTTP_PORT" --listen "[::1]:$HTTP_PORT"
    local filter="tcp port $HTTP_PORT"
    start_capture "$BASIC/http-curl.pcap" "$filter" -i lo
    start_capture "$BASIC/http-curl.sll.pcap" "$filter" -i any -y LINUX_SLL
    start_capture "$BASIC/http-curl.sll2.pcap" "$filter" -i any -y LINUX_SLL2
    start_capture "$BASIC/http-snaplen.pcap" "$filter" -i lo -s 96
    run_http_clients
    stop_captures
    stop_cas_server
}

# Rewrites of basic/http-curl.pcap: the same packets in other container formats.
make_format_variants() {
    local src="$BASIC/http-curl.pcap"
    log "basic/: format variants of http-curl.pcap"
    editcap -F nsecpcap "$src" "$BASIC/http-curl.ns.pcap"
    editcap -F pcapng "$src" "$BASIC/http-curl.pcapng"
    gzip -n -c "$src" >"$BASIC/http-curl.pcap.gz"
    tcprewrite --enet-vlan=add --enet-vlan-tag=100 --enet-vlan-cfi=0 --enet-vlan-pri=0 \
        --infile="$src" --outfile="$BASIC/http-curl.vlan.pcap"
    "$PY" - "$src" "$BASIC/http-curl.be.pcap" <<'EOF'
# Byte-swap the pcap file header and every record header: a big-endian pcap (magic a1b2c3d4
# written most significant byte first), as a big-endian host writes it. Packet data is unchanged.
import struct, sys
data = open(sys.argv[1], "rb").read()
assert data[:4] == b"\xd4\xc3\xb2\xa1", "expected a little-endian microsecond pcap"
out = bytearray(struct.pack(">IHHiIII", *struct.unpack("<IHHiIII", data[:24])))
pos = 24
while pos < len(data):
    sec, usec, incl, orig = struct.unpack_from("<IIII", data, pos)
    out += struct.pack(">IIII", sec, usec, incl, orig) + data[pos + 16:pos + 16 + incl]
    pos += 16 + incl
open(sys.argv[2], "wb").write(out)
EOF
    local cut
    cut=$("$PY" - "$src" <<'EOF'
# Offset halfway through the last record's packet data of a pcap.
import struct, sys
data = open(sys.argv[1], "rb").read()
pos = last = 24
while pos < len(data):
    last = pos
    pos += 16 + struct.unpack_from("<I", data, pos + 8)[0]
print(last + 16 + struct.unpack_from("<I", data, last + 8)[0] // 2)
EOF
)
    head -c "$cut" "$src" >"$BASIC/http-truncated.pcap"
}

# --- TLS --------------------------------------------------------------------------------------

make_certificate() {
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=$SNI" \
        -addext "subjectAltName=DNS:$SNI" \
        -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null
}

# start_s_server PORT CONNECTIONS ARGS...: openssl s_server answering GET / (-www) on PORT,
# exiting after CONNECTIONS connections.
start_s_server() {
    local port=$1 count=$2; shift 2
    port_free "$port" || die "port $port is in use"
    timeout 60 openssl s_server -accept "127.0.0.1:$port" -cert "$WORK/cert.pem" \
        -key "$WORK/key.pem" -www -naccept "$count" "$@" </dev/null >"$WORK/s_server.log" 2>&1 &
    BG_PIDS+=($!); S_SERVER_PID=$!
    wait_until 10 grep -q ACCEPT "$WORK/s_server.log"
}

stop_s_server() { wait "$S_SERVER_PID" || die "s_server failed: $(cat "$WORK/s_server.log")"; }

TLS_TRUTH_HEADER=$'conn\tclient_ip\tclient_port\tserver_port\tversion\tresumed\tmechanism\tsni\tcipher'

# s_client_conn TRUTH CONN SERVER_PORT EXPECT MECHANISM SNI ARGS...: one s_client connection
# from the fixed port TLS_CLIENT_PORT_BASE+CONN that sends GET / and reads the answer (so TLS 1.3
# tickets are received before it exits). Appends a truth line built from s_client's own
# "New|Reused, TLSvX, Cipher is Y" report; dies if the session is not EXPECT (New|Reused).
s_client_conn() {
    local truth=$1 conn=$2 port=$3 expect=$4 mechanism=$5 sni=$6; shift 6
    local client_port=$((TLS_CLIENT_PORT_BASE + conn)) out="$WORK/s_client.$conn.log"
    local sni_args=(-noservername)
    [[ $sni == - ]] || sni_args=(-servername "$sni")
    { printf 'GET / HTTP/1.0\r\n\r\n'; sleep 1; } |
        timeout 20 openssl s_client -connect "127.0.0.1:$port" -bind "127.0.0.1:$client_port" \
            "${sni_args[@]}" "$@" >"$out" 2>&1 || true
    local line status version cipher
    line=$(grep -m1 -E '^(New|Reused), TLSv' "$out") || die "s_client $conn: no session line"
    status=${line%%,*}
    version=$(sed -E 's/^[A-Za-z]+, (TLSv[0-9.]+),.*/\1/' <<<"$line")
    cipher=${line##*Cipher is }
    [[ $status == "$expect" ]] || die "s_client $conn: expected $expect, got: $line"
    [[ $status == Reused ]] || mechanism=-
    printf '%s\t127.0.0.1\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$conn" "$client_port" "$port" \
        "$version" "$([[ $status == Reused ]] && echo yes || echo no)" "$mechanism" "$sni" \
        "$cipher" >>"$truth"
}

# tls_capture NAME PORT: start capturing tls/NAME.pcap and a fresh tls/NAME.truth.tsv.
tls_capture() {
    TRUTH="$TLSDIR/$1.truth.tsv"
    printf '%s\n' "$TLS_TRUTH_HEADER" >"$TRUTH"
    start_capture "$TLSDIR/$1.pcap" "tcp port $2" -i lo
}

make_tls_captures() {
    local sess="$WORK/session.pem"
    make_certificate

    log "tls/tls12-resume-id.pcap"
    tls_capture tls12-resume-id "$TLS_PORT"
    start_s_server "$TLS_PORT" 2 -tls1_2 -no_ticket
    s_client_conn "$TRUTH" 1 "$TLS_PORT" New - "$SNI" -tls1_2 -sess_out "$sess"
    s_client_conn "$TRUTH" 2 "$TLS_PORT" Reused session-id "$SNI" -tls1_2 -sess_in "$sess"
    stop_s_server; stop_captures

    log "tls/tls12-resume-ticket.pcap"
    tls_capture tls12-resume-ticket "$TLS_PORT"
    start_s_server "$TLS_PORT" 2 -tls1_2
    s_client_conn "$TRUTH" 3 "$TLS_PORT" New - "$SNI" -sess_out "$sess"
    s_client_conn "$TRUTH" 4 "$TLS_PORT" Reused ticket "$SNI" -sess_in "$sess"
    stop_s_server; stop_captures

    log "tls/tls13-resume-psk.pcap"
    tls_capture tls13-resume-psk "$TLS_PORT"
    start_s_server "$TLS_PORT" 2 -tls1_3
    s_client_conn "$TRUTH" 5 "$TLS_PORT" New - "$SNI" -tls1_3 -sess_out "$sess"
    s_client_conn "$TRUTH" 6 "$TLS_PORT" Reused psk "$SNI" -tls1_3 -sess_in "$sess"
    stop_s_server; stop_captures

    log "tls/tls-nonstandard-port.pcap"
    tls_capture tls-nonstandard-port "$ODD_TLS_PORT"
    start_s_server "$ODD_TLS_PORT" 2
    s_client_conn "$TRUTH" 7 "$ODD_TLS_PORT" New - "$SNI"
    s_client_conn "$TRUTH" 8 "$ODD_TLS_PORT" New - - -tls1_2
    stop_s_server; stop_captures
    rm -f "$sess"
}

# curl over HTTPS against cas_http_server.py: its log gives version, resumption and SNI.
make_https_curl_capture() {
    local base="https://$SNI:$TLS_PORT"
    local tls=(-k --resolve "$SNI:$TLS_PORT:127.0.0.1")
    log "tls/https-curl.pcap"
    port_free "$TLS_PORT" || die "port $TLS_PORT is in use"
    start_cas_server "$TLSDIR/https-curl.truth.tsv" --listen "127.0.0.1:$TLS_PORT" \
        --cert "$WORK/cert.pem" --key "$WORK/key.pem"
    start_capture "$TLSDIR/https-curl.pcap" "tcp port $TLS_PORT" -i lo
    http "${tls[@]}" "$base/owa/" "$base/owa/healthcheck.htm"                          # a
    http "${tls[@]}" "$base/owa/" --next "${tls[@]}" "$base/owa/healthcheck.htm"       # b
    http "${tls[@]}" -H 'Connection: close' "$base/owa/" "$base/owa/healthcheck.htm" \
        "$base/ews/exchange.asmx"                                                      # c
    http "${tls[@]}" --tlsv1.2 --tls-max 1.2 -H 'Connection: close' \
        "$base/owa/" "$base/owa/healthcheck.htm"                                       # d
    stop_captures
    stop_cas_server
}

main() {
    ensure_packages
    mkdir -p "$BASIC" "$TLSDIR"
    make_http_captures
    make_format_variants
    make_tls_captures
    make_https_curl_capture
    # tcpdump drops privileges before writing: give every output the owner of samples/.
    chown --reference="$HERE" "$BASIC"/* "$TLSDIR"/*
    log "done"
    capinfos -T -c -l -E "$BASIC"/*.pcap* "$TLSDIR"/*.pcap >&2
}

main "$@"
