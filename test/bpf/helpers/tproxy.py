#!/usr/bin/env python3
"""Test sidecar for test/bpf: an outbound listener that asks each accepted socket for
SO_ORIGINAL_DST and connects there (its own connect, from its own cgroup), and an inbound
listener that forwards to 127.0.0.1:<original port>. Pipes both ways with half-close. Prints
one JSON line per event on stdout: {"ready":..., "pid":..., "outbound": port, "inbound": port,
"inbound_fd": fd}, then {"event":"accept","dir":..,"peer":..,"orig":..,"upstream_local":..}.
Usage: tproxy.py OUTBOUND_ADDR INBOUND_ADDR [OUTBOUND6_ADDR]
With OUTBOUND6_ADDR, the outbound listener also listens there on the same port (IPv6 only)."""
import json
import os
import select
import socket
import struct
import sys
import threading

SO_ORIGINAL_DST = 80
IP6T_SO_ORIGINAL_DST = 80
lock = threading.Lock()


def emit(obj):
    with lock:
        print(json.dumps(obj), flush=True)


def original_dst(conn):
    if conn.family == socket.AF_INET:
        raw = conn.getsockopt(socket.SOL_IP, SO_ORIGINAL_DST, 16)
        port, addr = struct.unpack("!2xH4s8x", raw)
        return socket.inet_ntop(socket.AF_INET, addr), port
    raw = conn.getsockopt(socket.IPPROTO_IPV6, IP6T_SO_ORIGINAL_DST, 28)  # SOL_IPV6 == IPPROTO_IPV6
    port, addr = struct.unpack("!2xH4x16s4x", raw)
    return socket.inet_ntop(socket.AF_INET6, addr), port


def recv_some(sock):
    # A socket in the sockhash can fail a blocking recv() with EAGAIN while another thread
    # writes to it (tcp_bpf_recvmsg); like xmesh's non-blocking workers, wait and retry.
    while True:
        try:
            return sock.recv(1 << 16)
        except BlockingIOError:
            select.select([sock], [], [], 1.0)


def pipe(src, dst):
    try:
        while True:
            d = recv_some(src)
            if not d:
                break
            dst.sendall(d)
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def handle(conn, direction):
    peer = conn.getpeername()
    try:
        orig = original_dst(conn)
    except OSError as e:
        emit({"event": "accept", "dir": direction, "peer": list(peer[:2]), "error": e.errno})
        conn.close()
        return
    target = orig if direction == "outbound" else ("127.0.0.1", orig[1])
    up = socket.socket(socket.AF_INET6 if ":" in target[0] else socket.AF_INET, socket.SOCK_STREAM)
    up.settimeout(10)
    try:
        up.connect(target)
    except OSError as e:
        emit({"event": "accept", "dir": direction, "peer": list(peer[:2]), "orig": list(orig), "error": e.errno})
        conn.close()
        return
    up.settimeout(None)
    emit({"event": "accept", "dir": direction, "peer": list(peer[:2]), "orig": list(orig),
          "local": list(conn.getsockname()[:2]), "upstream_local": list(up.getsockname()[:2])})
    t = threading.Thread(target=pipe, args=(up, conn), daemon=True)
    t.start()
    pipe(conn, up)
    t.join()
    conn.close()
    up.close()


def accept_loop(ls, direction):
    while True:
        conn, _ = ls.accept()
        threading.Thread(target=handle, args=(conn, direction), daemon=True).start()


def listen(addr, port=0):
    ls = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if ":" in addr:
        ls.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    ls.bind((addr, port))
    ls.listen(128)
    return ls


def main():
    out, inb = listen(sys.argv[1]), listen(sys.argv[2])
    threading.Thread(target=accept_loop, args=(out, "outbound"), daemon=True).start()
    threading.Thread(target=accept_loop, args=(inb, "inbound"), daemon=True).start()
    if len(sys.argv) > 3:
        out6 = listen(sys.argv[3], out.getsockname()[1])
        threading.Thread(target=accept_loop, args=(out6, "outbound"), daemon=True).start()
    emit({"ready": True, "pid": os.getpid(), "outbound": out.getsockname()[1],
          "inbound": inb.getsockname()[1], "inbound_fd": inb.fileno()})
    sys.stdin.read()


main()
