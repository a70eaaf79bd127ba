#!/usr/bin/env python3
"""An impostor esp for tests: a plain TLS 1.3 server with a certificate and
no pre-shared key. For each connection it prints whether the handshake
completed and how many bytes the client sent after it (HELLO, CONFIG...).

    tlsimpostor.py PORT CERT KEY [SECONDS]
"""
import socket
import ssl
import sys
import time

port, cert, key = int(sys.argv[1]), sys.argv[2], sys.argv[3]
secs = float(sys.argv[4]) if len(sys.argv) > 4 else 20
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.minimum_version = ssl.TLSVersion.TLSv1_3
ctx.load_cert_chain(cert, key)
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", port))
ls.listen(8)
ls.settimeout(1)
print("listening", port, flush=True)
end = time.time() + secs
while time.time() < end:
    try:
        c, _ = ls.accept()
    except socket.timeout:
        continue
    c.settimeout(2)
    try:
        t = ctx.wrap_socket(c, server_side=True)
    except (ssl.SSLError, OSError) as e:
        print("handshake failed:", e, flush=True)
        c.close()
        continue
    print("handshake ok", flush=True)
    n = 0
    try:
        while True:
            b = t.recv(65536)
            if not b:
                break
            n += len(b)
    except (ssl.SSLError, OSError):
        pass
    print("received %d bytes" % n, flush=True)
    t.close()
