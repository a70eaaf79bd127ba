#!/usr/bin/env python3
"""An FTP server's stand-in that connects back (active mode) for dynpass
tests. It greets, and answers each "PORT h1,h2,h3,h4,p1,p2" by connecting
there, reading until EOF, and logging "data SHA256 BYTES" (or "connect
failed: ERROR"); then "200 PORT done". Other lines get "500 ?". Serves
connections one at a time for at most 60 s; each read is bounded to
64 MiB and 15 s.

  portback.py PORT LOG
"""
import hashlib
import socket
import sys
import time

port, logpath = int(sys.argv[1]), sys.argv[2]
log = open(logpath, "a", buffering=1)
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", port))
ls.listen(8)
ls.settimeout(1)
print("listening", port, flush=True)
end = time.monotonic() + 60


def fetch(host, dport):
    try:
        d = socket.create_connection((host, dport), timeout=5)
    except OSError as e:
        log.write("connect failed: %s\n" % e)
        return
    d.settimeout(15)
    h, n = hashlib.sha256(), 0
    try:
        while n < 64 << 20:
            b = d.recv(65536)
            if not b:
                break
            h.update(b)
            n += len(b)
    except OSError as e:
        log.write("read failed after %d bytes: %s\n" % (n, e))
        return
    finally:
        d.close()
    log.write("data %s %d\n" % (h.hexdigest(), n))


def serve(c):
    c.settimeout(20)
    c.sendall(b"220 portback\r\n")
    buf = b""
    while True:
        b = c.recv(4096)
        if not b:
            return
        buf += b
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            log.write("line %r\n" % line)
            w = line.strip().split(b" ", 1)
            if w[0].upper() == b"PORT" and len(w) == 2:
                f = [int(x) for x in w[1].split(b",")]
                fetch("%d.%d.%d.%d" % tuple(f[:4]), f[4] * 256 + f[5])
                c.sendall(b"200 PORT done\r\n")
            else:
                c.sendall(b"500 ?\r\n")


while time.monotonic() < end:
    try:
        c, _ = ls.accept()
    except socket.timeout:
        continue
    try:
        serve(c)
    except (OSError, ValueError, IndexError) as e:
        log.write("error: %s\n" % e)
    finally:
        c.close()
