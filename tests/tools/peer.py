#!/usr/bin/env python3
"""Scripted TCP peers and a raw SOCKS5 client for dynpass scenario tests.

Servers print "listening PORT" once bound. Data patterns are deterministic
so either end can check what it got without a copy of the file.
Every wait is bounded.
"""
import hashlib
import socket
import struct
import sys
import threading
import time


def pattern(n, seed=0):
    """n bytes of a deterministic pattern."""
    block = hashlib.sha256(b"dynpass-%d" % seed).digest() * 2048  # 64 KiB
    out = bytearray()
    while len(out) < n:
        out += block
    return bytes(out[:n])


def socks_connect(proxy_port, host, port, proxy_host="127.0.0.1", timeout=30,
                  user=None, password=None):
    """SOCKS5 CONNECT, with an RFC 1929 login if user is given; returns
    (socket, reply code). A refused login raises SystemExit("login: ...")."""
    s = socket.create_connection((proxy_host, proxy_port), timeout=timeout)
    if user is None:
        s.sendall(b"\x05\x01\x00")
        if s.recv(2) != b"\x05\x00":
            raise SystemExit("socks: method refused")
    else:
        s.sendall(b"\x05\x01\x02")
        if s.recv(2) != b"\x05\x02":
            raise SystemExit("socks: method refused")
        u, p = user.encode(), password.encode()
        s.sendall(bytes([1, len(u)]) + u + bytes([len(p)]) + p)
        r = s.recv(2)
        if r != b"\x01\x00":
            raise SystemExit("login: refused (%s)" % r.hex())
    try:
        addr = socket.inet_pton(socket.AF_INET, host)
        req = b"\x05\x01\x00\x01" + addr
    except OSError:
        try:
            addr = socket.inet_pton(socket.AF_INET6, host)
            req = b"\x05\x01\x00\x04" + addr
        except OSError:
            req = b"\x05\x01\x00\x03" + bytes([len(host)]) + host.encode()
    s.sendall(req + struct.pack(">H", port))
    head = recv_exact(s, 4)
    if head[3] == 1:
        recv_exact(s, 6)
    elif head[3] == 4:
        recv_exact(s, 18)
    return s, head[1]


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise SystemExit("socks: connection closed after %d of %d bytes" % (len(buf), n))
        buf += chunk
    return buf


def read_all(s):
    h = hashlib.sha256()
    total = 0
    while True:
        chunk = s.recv(65536)
        if not chunk:
            return h.hexdigest(), total
        h.update(chunk)
        total += len(chunk)


def listen(port, host="127.0.0.1"):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    ls = socket.socket(fam, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((host, port))
    ls.listen(256)
    print("listening", ls.getsockname()[1], flush=True)
    return ls


def serve(ls, handler, count):
    """Handle up to count connections, each in a thread."""
    threads = []
    for _ in range(count):
        c, _ = ls.accept()
        t = threading.Thread(target=handler, args=(c,), daemon=True)
        t.start()
        threads.append(t)
    for t in threads:
        t.join(120)


def cmd_reply(args):
    """reply PROXYPORT HOST PORT [USER PASS]: print the SOCKS reply code."""
    user, pw = (args[3], args[4]) if len(args) > 4 else (None, None)
    s, code = socks_connect(int(args[0]), args[1], int(args[2]),
                            user=user, password=pw)
    print(code)


def cmd_sink_server(args):
    """sink-server PORT [COUNT]: read to EOF, answer with the SHA-256."""
    ls = listen(int(args[0]))

    def h(c):
        digest, n = read_all(c)
        c.sendall(("%s %d\n" % (digest, n)).encode())
        c.close()

    serve(ls, h, int(args[1]) if len(args) > 1 else 1)


def cmd_upload(args):
    """upload PROXYPORT HOST PORT SIZE: send, shut down writing, print answer."""
    s, code = socks_connect(int(args[0]), args[1], int(args[2]))
    if code != 0:
        raise SystemExit("socks reply %d" % code)
    data = pattern(int(args[3]), 1)
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
    answer = s.recv(200).decode().strip()
    print(answer)
    print("expected", hashlib.sha256(data).hexdigest(), len(data))


def cmd_source_server(args):
    """source-server PORT SIZE RESULTFILE: send SIZE bytes, shut down
    writing, keep reading to EOF, then write the SHA-256 of what came in."""
    ls = listen(int(args[0]))
    size = int(args[1])

    def h(c):
        c.sendall(pattern(size, 2))
        c.shutdown(socket.SHUT_WR)
        digest, n = read_all(c)
        with open(args[2], "w") as f:
            f.write("%s %d\n" % (digest, n))
        c.close()

    serve(ls, h, 1)


def cmd_halfclose_client(args):
    """halfclose-client PROXYPORT HOST PORT SIZE SENDSIZE: read the server's
    data to EOF, then send SENDSIZE bytes and close; print both digests."""
    s, code = socks_connect(int(args[0]), args[1], int(args[2]))
    if code != 0:
        raise SystemExit("socks reply %d" % code)
    digest, n = read_all(s)
    print("got", digest, n)
    print("want", hashlib.sha256(pattern(int(args[3]), 2)).hexdigest(), int(args[3]))
    data = pattern(int(args[4]), 3)
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
    s.settimeout(30)
    rest = s.recv(10)
    s.close()
    print("sent", hashlib.sha256(data).hexdigest(), len(data), "then", len(rest))


def cmd_rst_server(args):
    """rst-server PORT: accept, read a line, reset the connection."""
    ls = listen(int(args[0]))
    c, _ = ls.accept()
    c.recv(100)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.close()
    time.sleep(0.5)


def cmd_rst_client(args):
    """rst-client PROXYPORT HOST PORT: send a line, expect a reset."""
    s, code = socks_connect(int(args[0]), args[1], int(args[2]))
    s.sendall(b"hello\n")
    s.settimeout(10)
    try:
        data = s.recv(100)
        print("eof" if data == b"" else "data")
    except ConnectionResetError:
        print("reset")
    except socket.timeout:
        print("timeout")


def cmd_wait_reset_server(args):
    """wait-reset-server PORT: accept and report how the client went away."""
    ls = listen(int(args[0]))
    c, _ = ls.accept()
    c.settimeout(20)
    try:
        while True:
            d = c.recv(65536)
            if not d:
                print("eof", flush=True)
                return
    except ConnectionResetError:
        print("reset", flush=True)
    except socket.timeout:
        print("timeout", flush=True)


def cmd_abort_client(args):
    """abort-client PROXYPORT HOST PORT: send a little, then reset."""
    s, code = socks_connect(int(args[0]), args[1], int(args[2]))
    s.sendall(b"some bytes before the reset\n")
    time.sleep(0.5)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


def cmd_stream_server(args):
    """stream-server PORT SIZE: send SIZE bytes of the pattern to each client."""
    ls = listen(int(args[0]))
    size = int(args[1])

    def h(c):
        try:
            c.sendall(pattern(size, 4))
            c.shutdown(socket.SHUT_WR)
            c.recv(1)
        except OSError:
            pass
        c.close()

    serve(ls, h, int(args[2]) if len(args) > 2 else 1)


def cmd_slow_reader(args):
    """slow-reader PROXYPORT HOST PORT SIZE STALLFILE: connect, read nothing
    until STALLFILE exists (at most 300 s), then read SIZE bytes and check
    them against the pattern."""
    import os
    if args[0] == "-":  # directly (under sockhook, say)
        s, code = socket.create_connection((args[1], int(args[2]))), 0
    else:
        s, code = socks_connect(int(args[0]), args[1], int(args[2]))
    if code != 0:
        raise SystemExit("socks reply %d" % code)
    print("stalled", flush=True)
    deadline = time.time() + 300
    while not os.path.exists(args[4]) and time.time() < deadline:
        time.sleep(0.1)
    size = int(args[3])
    digest, n = read_all(s)
    want = hashlib.sha256(pattern(size, 4)).hexdigest()
    print("got", digest, n)
    print("want", want, size)


def cmd_garbage(args):
    """garbage PROXYPORT MODE: send a bad handshake; print how it ended and
    after how long. MODE: http | partial | silent | badcmd | badatyp."""
    s = socket.create_connection(("127.0.0.1", int(args[0])), timeout=30)
    mode = args[1]
    start = time.time()
    if mode == "http":
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
    elif mode == "partial":
        s.sendall(b"\x05\x02\x00")  # promises two methods, sends one
    elif mode == "badcmd":
        s.sendall(b"\x05\x01\x00")
        s.recv(2)
        s.sendall(b"\x05\x02\x00\x01\x7f\x00\x00\x01\x00\x50")  # BIND
    elif mode == "badatyp":
        s.sendall(b"\x05\x01\x00")
        s.recv(2)
        s.sendall(b"\x05\x01\x00\x09\x7f\x00\x00\x01\x00\x50")
    elif mode == "noauth":
        s.sendall(b"\x05\x01\x02")  # only username/password offered
    got = b""
    try:
        while True:
            d = s.recv(100)
            if not d:
                break
            got += d
    except ConnectionResetError:
        got += b"<reset>"
    print("closed after %.1f s, got %s" % (time.time() - start, got.hex() or "-"))


CMDS = {
    "reply": cmd_reply,
    "sink-server": cmd_sink_server,
    "upload": cmd_upload,
    "source-server": cmd_source_server,
    "halfclose-client": cmd_halfclose_client,
    "rst-server": cmd_rst_server,
    "rst-client": cmd_rst_client,
    "wait-reset-server": cmd_wait_reset_server,
    "abort-client": cmd_abort_client,
    "stream-server": cmd_stream_server,
    "slow-reader": cmd_slow_reader,
    "garbage": cmd_garbage,
}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in CMDS:
        raise SystemExit("usage: peer.py {%s} ..." % "|".join(CMDS))
    CMDS[sys.argv[1]](sys.argv[2:])
