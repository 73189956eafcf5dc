#!/usr/bin/env python3
"""Test application for test/bpf: one plain connect() to HOST PORT, sends SIZE pseudo-random
bytes, half-closes, reads everything back and prints one JSON line: the "PEER" line the echo
server wrote, its own local address, and whether the echoed bytes are intact.
Usage: client.py HOST PORT SIZE [--mark N] [--timeout S] [--blocking]
--blocking: after connect the socket is blocking (no timeout), with a sender thread and the
reader on it at once; an EAGAIN from recv() is reported as {"error": "EAGAIN"}.
--hold: two open rounds on one connection (send SIZE bytes, read them back, print
{"phase": N, ...}, wait for a line on stdin), then the usual round (SIZE bytes, half-close)."""
import hashlib
import json
import os
import socket
import sys
import threading


def main():
    host, port, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    mark = int(sys.argv[sys.argv.index("--mark") + 1]) if "--mark" in sys.argv else None
    timeout = float(sys.argv[sys.argv.index("--timeout") + 1]) if "--timeout" in sys.argv else 10.0
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    if mark is not None:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_MARK, mark)
    s.settimeout(timeout)
    try:
        s.connect((host, port))
    except OSError as e:
        print(json.dumps({"error": type(e).__name__, "errno": e.errno}), flush=True)
        return
    local = s.getsockname()
    first = b""
    if "--hold" in sys.argv:
        # two open rounds (the echo of the first carries the PEER line), each followed by a wait
        buf = b""
        for phase in (1, 2):
            chunk = os.urandom(size)
            first += chunk
            s.sendall(chunk)
            while True:
                nl = buf.find(b"\n")
                if nl >= 0 and len(buf) - nl - 1 >= len(first):
                    break
                d = s.recv(1 << 16)
                if not d:
                    break
                buf += d
            nl = buf.find(b"\n")
            print(json.dumps({"phase": phase, "peer": buf[:nl].decode(), "local": [local[0], local[1]],
                              "intact": buf[nl + 1 :] == first}), flush=True)
            sys.stdin.readline()
    payload = os.urandom(size)

    def send():
        view = memoryview(payload)
        while view:
            n = s.send(view[: 1 << 16])
            view = view[n:]
        s.shutdown(socket.SHUT_WR)

    t = threading.Thread(target=send)
    t.start()
    chunks = []
    while True:
        try:
            d = s.recv(1 << 16)
        except BlockingIOError as e:
            print(json.dumps({"error": "EAGAIN", "errno": e.errno}), flush=True)
            os._exit(0)
        if not d:
            break
        chunks.append(d)
    t.join()
    got = b"".join(chunks)
    if first:
        peer_line, echoed = "PEER (first round)", got
    else:
        nl = got.find(b"\n")
        peer_line, echoed = got[:nl].decode(errors="replace"), got[nl + 1 :]
    print(json.dumps({
        "peer": peer_line,
        "local": [local[0], local[1]],
        "sent": size,
        "received": len(echoed),
        "intact": hashlib.sha256(echoed).digest() == hashlib.sha256(payload).digest(),
    }), flush=True)


main()
