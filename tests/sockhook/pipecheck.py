#!/usr/bin/env python3
"""Test fixture: a SOCKS5 server (CONNECT to 127.0.0.1 only) that notes
what a client sent before each answer, to show which steps came in one
write. Prints its port, then per client: "first: STEPS" (before the
method reply) and, after a 0x02 choice, "then: STEPS" (before the login
reply); STEPS is what those bytes held, e.g. greeting+request.

pipecheck.py USER PASSWORD"""
import socket
import sys
import threading
import time

USER, PASSWORD = sys.argv[1].encode(), sys.argv[2].encode()


def say(*a):
    print(*a, flush=True)


def pending(c):
    """Everything the client has sent so far, after a pause."""
    time.sleep(0.3)
    c.setblocking(False)
    try:
        data = c.recv(65536)
    except BlockingIOError:
        data = b""
    c.setblocking(True)
    return bytearray(data)


class Buf:
    def __init__(self, c, data):
        self.c, self.b = c, data

    def take(self, n):
        while len(self.b) < n:
            d = self.c.recv(65536)
            if not d:
                raise EOFError
            self.b.extend(d)
        out = bytes(self.b[:n])
        del self.b[:n]
        return out


def steps(data, login_first):
    """Name the steps a run of bytes holds."""
    names, b = [], bytes(data)
    if login_first is None and len(b) >= 2 and b[0] == 5:
        names.append("greeting")
        b = b[2 + b[1]:]
    if login_first and len(b) >= 2 and b[0] == 1:
        names.append("login")
        u = b[1]
        b = b[2 + u + 1 + b[2 + u]:] if len(b) > 2 + u else b""
    if len(b) >= 4 and b[0] == 5 and b[1] == 1:
        names.append("request")
    return "+".join(names) or "nothing"


def pipe(a, b):
    try:
        while d := a.recv(65536):
            b.sendall(d)
    except OSError:
        pass
    finally:
        try:
            b.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def client(c):
    try:
        first = pending(c)
        say("first:", steps(first, None))
        r = Buf(c, first)
        _, n = r.take(2)
        methods = r.take(n)
        if 2 in methods:
            c.sendall(b"\x05\x02")
            r.b.extend(pending(c))
            say("then:", steps(r.b, True))
            r.take(1)
            user = r.take(r.take(1)[0])
            pw = r.take(r.take(1)[0])
            ok = (user, pw) == (USER, PASSWORD)
            c.sendall(b"\x01\x00" if ok else b"\x01\x01")
            if not ok:
                return
        else:
            c.sendall(b"\x05\x00")
        _, cmd, _, atyp = r.take(4)
        if atyp != 1:
            c.sendall(b"\x05\x08\x00\x01" + bytes(6))
            return
        host = ".".join(str(x) for x in r.take(4))
        port = int.from_bytes(r.take(2), "big")
        if not host.startswith("127."):
            c.sendall(b"\x05\x02\x00\x01" + bytes(6))
            return
        u = socket.create_connection((host, port))
        c.sendall(b"\x05\x00\x00\x01" + bytes(6))
        if r.b:
            u.sendall(bytes(r.b))
        t = threading.Thread(target=pipe, args=(u, c), daemon=True)
        t.start()
        pipe(c, u)
        t.join()
    except (EOFError, OSError):
        pass
    finally:
        c.close()


srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(64)
say(srv.getsockname()[1])
while True:
    conn, _ = srv.accept()
    threading.Thread(target=client, args=(conn,), daemon=True).start()
