#!/usr/bin/env python3
"""A control-connection client for dynpass tests: through the esp's SOCKS5
door to a server, it sends lines and prints what comes back.

  ctlclient.py PROXYPORT PORT [user:pass] send TEXT...      one write each
  ctlclient.py PROXYPORT PORT [user:pass] ports N           N PORTs naming
        a port this client listens on (connections to it are accepted)
  ctlclient.py PROXYPORT PORT [user:pass] idle SECONDS      read nothing

TEXT may hold \\r\\n and \\xHH escapes. Prints "reply: ..." for each line
received (bytes literals), then "closed" or "reset". Every wait is bounded.
"""
import codecs
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peer import socks_connect  # noqa: E402

proxy, port = int(sys.argv[1]), int(sys.argv[2])
args = sys.argv[3:]
user = pw = None
if args and ":" in args[0] and args[0] not in ("send", "ports", "idle"):
    user, pw = args.pop(0).split(":", 1)
s, code = socks_connect(proxy, "127.0.0.1", port, user=user, password=pw)
if code != 0:
    raise SystemExit("socks reply %d" % code)
s.settimeout(5)


def read_some(wait=1.0):
    """Print the lines that arrive within wait seconds; False at the end."""
    s.settimeout(wait)
    buf = b""
    try:
        while True:
            d = s.recv(65536)
            if not d:
                print("closed", flush=True)
                return False
            buf += d
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                print("reply:", repr(line + b"\n"), flush=True)
    except socket.timeout:
        return True
    except ConnectionResetError:
        print("reset", flush=True)
        return False


mode = args[0]
alive = mode == "idle" or read_some()
if mode == "send":
    for t in args[1:]:
        if not alive:
            break
        try:
            s.sendall(codecs.decode(t, "unicode_escape").encode("latin-1"))
        except (BrokenPipeError, ConnectionResetError):
            print("reset", flush=True)
            alive = False
            break
        alive = read_some()
elif mode == "ports":
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(512)
    lp = ls.getsockname()[1]
    held = []

    def acceptor():
        ls.settimeout(1)
        end = time.time() + 60
        while time.time() < end:
            try:
                held.append(ls.accept()[0])
            except socket.timeout:
                pass
            except OSError:
                return

    threading.Thread(target=acceptor, daemon=True).start()
    line = b"PORT 127,0,0,1,%d,%d\r\n" % (lp >> 8, lp & 255)
    for _ in range(int(args[1])):
        s.sendall(line)
    alive = read_some(3.0)
    print("accepted", len(held), flush=True)
elif mode == "idle":
    time.sleep(float(args[1]))
    print("idle done", flush=True)
