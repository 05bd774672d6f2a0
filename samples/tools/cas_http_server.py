#!/usr/bin/python3
"""A tiny stand-in for an Exchange CAS front end, used to generate sample captures.

It answers a fixed set of URLs (see README.md beside make-basic-captures.sh) over HTTP/1.1
with keep-alive, optionally over TLS, and writes one ground-truth line per answered request
to --truth as tab-separated values. The truth comes from the server side of the exchange,
never from a capture, so tests can compare what the auditor extracts against it.

Cookie values are derived from a counter (not random) so a regeneration gives the same values.
Passwords are checked but never logged: only the user name of a Basic credential is.
"""

import argparse
import base64
import hashlib
import http.server
import socket
import ssl
import sys
import threading
import time
import uuid
import zlib

FE_SERVER = "CAS01"
BASIC_USER = "CONTOSO\\jdoe"
LOGO_ETAG = '"logo-v1"'
# Namespace for the deterministic sessionid values (uuid5 of "session-<n>").
SESSION_NAMESPACE = uuid.UUID("6f1c2d3e-4a5b-4c6d-8e9f-a0b1c2d3e4f5")

TRUTH_COLUMNS = (
    "conn", "req_in_conn", "client_ip", "client_port", "tls_version", "tls_resumed", "sni",
    "method", "uri", "req_version", "status", "framing", "auth_user", "xff",
    "req_cookies", "set_cookies",
)


class TruthLog:
    """Serialises truth lines and the counters they refer to across handler threads."""

    def __init__(self, path, password):
        self.password = password
        self._lock = threading.Lock()
        self._file = open(path, "w", encoding="utf-8")
        self._file.write("\t".join(TRUTH_COLUMNS) + "\n")
        self._file.flush()
        self._connections = 0
        self._sessions = 0

    def next_connection(self):
        with self._lock:
            self._connections += 1
            return self._connections

    def next_session(self):
        with self._lock:
            self._sessions += 1
            return self._sessions

    def write(self, row):
        line = "\t".join(str(row.get(c) or "-") for c in TRUTH_COLUMNS)
        with self._lock:
            self._file.write(line + "\n")
            self._file.flush()


def exchange_cookies(n):
    """The OWA logon cookies of the n-th session: name -> value."""
    digest = hashlib.sha256(f"session-{n}".encode()).digest()
    return {
        "sessionid": str(uuid.uuid5(SESSION_NAMESPACE, f"session-{n}")),
        "cadata": base64.b64encode(digest + digest[:16]).decode(),
        "UserContext": hashlib.sha256(f"user-context-{n}".encode()).hexdigest()[:32],
    }


class CasHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "Microsoft-IIS/10.0"
    # Each write leaves as its own segment (as from IIS), so chunks are not coalesced by Nagle.
    disable_nagle_algorithm = True

    def version_string(self):
        return self.server_version

    # --- per-connection setup -------------------------------------------------------------
    def setup(self):
        super().setup()
        self.conn_id = self.server.truth.next_connection()
        self.req_in_conn = 0

    def log_message(self, fmt, *args):
        pass  # the truth file is the log

    # --- helpers ----------------------------------------------------------------------------
    def begin(self):
        self.req_in_conn += 1
        self.row = {
            "conn": self.conn_id,
            "req_in_conn": self.req_in_conn,
            "client_ip": self.client_address[0],
            "client_port": self.client_address[1],
            "method": self.command,
            "uri": self.path,
            "req_version": self.request_version,
            "auth_user": self.basic_user(),
            "xff": self.headers.get("X-Forwarded-For"),
            "req_cookies": self.headers.get("Cookie"),
        }
        conn = self.connection
        if isinstance(conn, ssl.SSLSocket):
            self.row["tls_version"] = conn.version()
            self.row["tls_resumed"] = "yes" if conn.session_reused else "no"
            self.row["sni"] = getattr(conn, "sni_name", None)

    def basic_user(self):
        """User name of a valid Basic credential, or None (password is never returned)."""
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("Basic "):
            return None
        try:
            user, _, password = base64.b64decode(auth[6:]).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        return user if (user, password) == (BASIC_USER, self.server.truth.password) else None

    def start(self, status, content_type=None, length=None, extra=()):
        self.send_response(status)
        self.send_header("X-FEServer", FE_SERVER)
        if content_type:
            self.send_header("Content-Type", content_type)
        if length is not None:
            self.send_header("Content-Length", str(length))
            self.row["framing"] = f"content-length:{length}"
        for name, value in extra:
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.row["status"] = status

    def finish_request(self, body=b""):
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)
        self.server.truth.write(self.row)

    def read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    # --- routes ------------------------------------------------------------------------------
    def do_GET(self):
        self.begin()
        path = self.path.split("?", 1)[0]
        if path == "/owa/":
            self.owa_home()
        elif path == "/owa/healthcheck.htm":
            self.simple(200, "text/html", b"<html><body>200 OK</body></html>")
        elif path == "/owa/resources/logo.png":
            self.logo()
        elif path == "/chunked":
            self.chunked()
        elif path == "/ews/exchange.asmx":
            self.ews()
        else:
            self.simple(404, "text/plain", b"not found\n")

    do_HEAD = do_GET

    def do_POST(self):
        self.begin()
        body = self.read_body()
        path = self.path.split("?", 1)[0]
        if path == "/Microsoft-Server-ActiveSync":
            self.activesync(body)
        else:
            self.simple(404, "text/plain", b"not found\n")

    def simple(self, status, content_type, body, extra=()):
        self.start(status, content_type, len(body), extra)
        self.finish_request(body)

    def owa_home(self):
        body = b"<html><head><title>Outlook</title></head><body>OWA home</body></html>\n"
        extra = [("Cache-Control", "no-cache, no-store")]
        # A request that already carries a session keeps it; otherwise a new logon issues one.
        if "sessionid=" not in (self.headers.get("Cookie") or ""):
            cookies = exchange_cookies(self.server.truth.next_session())
            extra += [("Set-Cookie", f"{k}={v}; path=/; HttpOnly") for k, v in cookies.items()]
            self.row["set_cookies"] = ";".join(f"{k}={v}" for k, v in cookies.items())
        self.simple(200, "text/html; charset=utf-8", body, extra)

    def logo(self):
        if self.headers.get("If-None-Match") == LOGO_ETAG:
            self.start(304, extra=[("ETag", LOGO_ETAG)])
            self.row["framing"] = "none"
            self.finish_request()
        else:
            self.simple(200, "image/png", b"\x89PNG\r\n\x1a\n" + bytes(56), [("ETag", LOGO_ETAG)])

    def chunked(self):
        chunks = [(b"0123456789", ""), (b"abcdefghijklmnopqrstuvwxyz", ";ext=1"), (b"Z" * 100, "")]
        body = b"".join(c for c, _ in chunks)
        self.start(200, "text/plain", extra=[("Transfer-Encoding", "chunked"),
                                             ("Trailer", "X-Checksum")])
        self.end_headers()
        for data, ext in chunks:
            self.wfile.write(b"%x%s\r\n%s\r\n" % (len(data), ext.encode(), data))
            time.sleep(0.02)  # separate segments, so reassembly sees each chunk on its own
        self.wfile.write(b"0\r\nX-Checksum: %08x\r\n\r\n" % zlib.crc32(body))
        self.row["framing"] = f"chunked:{len(body)}"
        self.server.truth.write(self.row)

    def ews(self):
        if self.row["auth_user"] is None:
            self.simple(401, "text/plain", b"401 - Unauthorized\n",
                        [("WWW-Authenticate", 'Basic realm="cas01.contoso.test"')])
        else:
            body = b'<?xml version="1.0" encoding="utf-8"?><wsdl:definitions/>\n'
            self.simple(200, "text/xml; charset=utf-8", body)

    def activesync(self, body):
        if self.row["auth_user"] is None:
            self.simple(401, "text/plain", b"401 - Unauthorized\n",
                        [("WWW-Authenticate", 'Basic realm="cas01.contoso.test"')])
            return
        # A minimal WBXML Sync response: header, then Sync/Status=1.
        reply = bytes([0x03, 0x01, 0x6A, 0x00, 0x00, 0x00, 0x45, 0x4E, 0x03, 0x31, 0x00, 0x01, 0x01])
        self.simple(200, "application/vnd.ms-sync.wbxml", reply,
                    [("MS-Server-ActiveSync", "15.1"), ("X-Request-Body-Bytes", str(len(body)))])


class CasServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def shutdown_request(self, request):
        # Send close_notify before closing, as IIS does: OpenSSL drops a TLS 1.2 session from
        # its cache when the connection ends without it, and curl resumes 1.2 by session id.
        if isinstance(request, ssl.SSLSocket):
            try:
                request.unwrap()
            except (OSError, ValueError):
                pass
        super().shutdown_request(request)


class CasServer6(CasServer):
    address_family = socket.AF_INET6


def remember_sni(sslsock, server_name, _context):
    sslsock.sni_name = server_name


def make_server(host, port, truth, tls):
    server = (CasServer6 if ":" in host else CasServer)((host, port), CasHandler)
    server.truth = truth
    if tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(tls[0], tls[1])
        ctx.set_alpn_protocols(["http/1.1"])
        ctx.sni_callback = remember_sni
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    return server


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--listen", action="append", required=True, help="host:port, repeatable")
    parser.add_argument("--truth", required=True)
    parser.add_argument("--password", required=True, help="the one accepted Basic password")
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--ready", required=True, help="file created once listening")
    args = parser.parse_args()

    truth = TruthLog(args.truth, args.password)
    tls = (args.cert, args.key) if args.cert else None
    servers = []
    for listen in args.listen:
        host, _, port = listen.rpartition(":")
        servers.append(make_server(host.strip("[]"), int(port), truth, tls))
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    open(args.ready, "w").close()
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
