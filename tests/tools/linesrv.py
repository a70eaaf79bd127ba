#!/usr/bin/env python3
"""A scripted line server for dynpass tests (an FTP or IRC server's
stand-in): it greets, logs every line it receives (as Python bytes
literals, one per line) and answers by the first word.

  linesrv.py PORT LOG [GREETING] [WORD=REPLY ...] [flood=BYTES]

REPLY may hold \\r\\n escapes. flood=BYTES: after the greeting, send that
many bytes of harmless lines and keep the connection open (for tests of
a client that reads nothing). Runs for at most 120 s.
"""
import codecs
import socket
import sys
import threading
import time

port, logpath = int(sys.argv[1]), sys.argv[2]
greeting = b"220 test server\r\n"
replies, flood = {}, 0
for a in sys.argv[3:]:
    if a.startswith("flood="):
        flood = int(a[6:])
    elif "=" in a:
        w, r = a.split("=", 1)
        replies[w.upper().encode()] = codecs.decode(r, "unicode_escape").encode("latin-1")
    else:
        greeting = codecs.decode(a, "unicode_escape").encode("latin-1")
log = open(logpath, "a", buffering=1)
lock = threading.Lock()


def handle(c):
    c.settimeout(60)
    try:
        c.sendall(greeting)
        if flood:
            line = b"250 " + b"x" * 1019 + b"\r\n"
            sent = 0
            while sent < flood:
                c.sendall(line)
                sent += len(line)
            with lock:
                log.write("flood sent %d\n" % sent)
            time.sleep(60)
            return
        buf = b""
        while True:
            d = c.recv(65536)
            if not d:
                break
            buf += d
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                with lock:
                    log.write(repr(line + b"\n") + "\n")
                word = line.split(b" ", 1)[0].strip().upper()
                c.sendall(replies.get(word, b"200 ok\r\n"))
        if buf:
            with lock:
                log.write(repr(buf) + " (no end of line)\n")
        with lock:
            log.write("closed\n")
    except (ConnectionResetError, BrokenPipeError):
        with lock:
            log.write("reset\n")
    except socket.timeout:
        with lock:
            log.write("timeout\n")
    finally:
        c.close()


ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", port))
ls.listen(64)
ls.settimeout(1)
print("listening", port, flush=True)
end = time.time() + 120
while time.time() < end:
    try:
        c, _ = ls.accept()
    except socket.timeout:
        continue
    threading.Thread(target=handle, args=(c,), daemon=True).start()
