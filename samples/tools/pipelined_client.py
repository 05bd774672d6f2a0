#!/usr/bin/python3
"""Send three HTTP/1.1 requests in a single write (pipelining) and read until the server closes.

The last request asks for `Connection: close`, so the server answers all three in order and
then closes; the client reads to EOF. Usage: pipelined_client.py HOST PORT
"""

import re
import socket
import sys

REQUESTS = (
    "GET /owa/healthcheck.htm HTTP/1.1\r\nHost: {host}\r\nUser-Agent: pipeline-test/1.0\r\n\r\n",
    "GET /chunked HTTP/1.1\r\nHost: {host}\r\nUser-Agent: pipeline-test/1.0\r\n\r\n",
    "GET /owa/ HTTP/1.1\r\nHost: {host}\r\nUser-Agent: pipeline-test/1.0\r\n"
    "Connection: close\r\n\r\n",
)


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    payload = "".join(r.format(host=f"{host}:{port}") for r in REQUESTS).encode()
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(payload)
        received = bytearray()
        while chunk := sock.recv(65536):
            received += chunk
    statuses = re.findall(rb"HTTP/1\.1 \d{3} ", bytes(received))
    if len(statuses) != len(REQUESTS):
        sys.exit(f"pipelined_client: expected {len(REQUESTS)} responses, got {statuses!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
