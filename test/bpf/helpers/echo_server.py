#!/usr/bin/env python3
"""Test upstream for test/bpf: on each connection, writes one line "PEER <ip> <port>\n" (who
connected, as this server sees it), then echoes every byte back until the peer half-closes,
then half-closes too. Prints {"ports": [...]} on stdout once listening.
Usage: echo_server.py BIND_ADDR [PORT ...]   (port 0 or none: one ephemeral port)"""
import json
import socket
import sys
import threading


def serve(conn):
    with conn:
        peer = conn.getpeername()
        conn.sendall(f"PEER {peer[0]} {peer[1]}\n".encode())
        while True:
            data = conn.recv(1 << 16)
            if not data:
                break
            conn.sendall(data)
        conn.shutdown(socket.SHUT_WR)


def accept_loop(ls):
    while True:
        conn, _ = ls.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


def main():
    addr = sys.argv[1]
    ports = [int(p) for p in sys.argv[2:]] or [0]
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    bound = []
    for p in ports:
        ls = socket.socket(fam, socket.SOCK_STREAM)
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind((addr, p))
        ls.listen(128)
        bound.append(ls.getsockname()[1])
        threading.Thread(target=accept_loop, args=(ls,), daemon=True).start()
    print(json.dumps({"ports": bound}), flush=True)
    sys.stdin.read()  # exit when the test closes our stdin (or dies)


main()
