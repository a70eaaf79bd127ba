#!/usr/bin/env python3
"""Test fixture: a hostile esp for the client agent (TLS on 127.0.0.1,
its own frames). Prints "listening", then "connection N" per session.

fakeesp.py MODE PORT CERT KEY

  silent   answers HELLO and PING, never an OPEN
  cost     answers the login's first step with a scrypt cost of 1 GiB
  busy     answers every login busy
  goaway   says goodbye (GOAWAY 0) right after HELLO
  outside  asks for 20000 reverse connections for channels that are not
           there (OUTSIDE_OPEN), after HELLO
"""
import base64, os, socket, ssl, struct, sys, threading

mode, port, cert, key = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.minimum_version = ssl.TLSVersion.TLSv1_3
ctx.load_cert_chain(cert, key)
HELLO, PING, PONG, GOAWAY, OUTSIDE_OPEN, LOGIN, LOGIN_REPLY = 1, 8, 9, 0x0A, 0x0C, 0x10, 0x11


def frame(t, ch, p=b""):
    return struct.pack(">BBHII", 3, t, 0, ch, len(p)) + p


def rx(s, n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise EOFError
        b += c
    return b


def handle(c):
    hello = struct.pack(">HHBI", 3, 3, 2, 16 << 20) + b"fakeesp"
    while True:
        _, t, _, ch, n = struct.unpack(">BBHII", rx(c, 12))
        p = rx(c, n) if n else b""
        if t == HELLO:
            c.sendall(frame(HELLO, 0, hello))
            if mode == "goaway":
                c.sendall(frame(GOAWAY, 0, b"\x00again"))
            elif mode == "outside":
                ep = bytes([1, 4, 127, 0, 0, 1]) + struct.pack(">H", 22)
                body = struct.pack(">IIBB", 0, 99, 1, 0) + ep + ep + b"\0\0"
                c.sendall(b"".join(frame(OUTSIDE_OPEN, 2 * i + 2, body) for i in range(20000)))
                print("sent 20000", flush=True)
        elif t == PING:
            c.sendall(frame(PONG, 0, p))
        elif t == LOGIN and mode == "busy":
            c.sendall(frame(LOGIN_REPLY, 0, struct.pack(">IBBBI", 1, 0, 1, 3, 0)))
        elif t == LOGIN and mode == "cost":
            first = p[p.index(b"n,,"):].decode()
            nonce = first.split("r=")[1]
            salt = base64.b64encode(os.urandom(16)).decode()
            sfirst = "r=%sAAAA,s=%s,i=1048576,k=8:2" % (nonce, salt)
            c.sendall(frame(LOGIN_REPLY, 0, struct.pack(">IBBBI", 1, 0, 1, 0, 0) + sfirst.encode()))
            print("costly challenge", flush=True)


def serve(s):
    try:
        handle(ctx.wrap_socket(s, server_side=True))
    except Exception:
        pass


ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", port))
ls.listen(16)
print("listening", flush=True)
n = 0
while True:
    s, _ = ls.accept()
    n += 1
    print("connection %d" % n, flush=True)
    threading.Thread(target=serve, args=(s,), daemon=True).start()
