#!/usr/bin/env python3
"""SOCKS5 logins for dynpass tests: floods and timings. Every loop is
bounded in count and time.

  logins.py flood PROXYPORT SOURCE USER PASS THREADS SECONDS
      THREADS clients from SOURCE log in with a wrong password again and
      again for SECONDS; prints "attempts N accepted N".
  logins.py time PROXYPORT SOURCE USER PASS COUNT
      COUNT logins one after another; prints the median milliseconds from
      sending the login to its answer, and the answers.
  logins.py name PROXYPORT PYTHON-BYTES-LITERAL PORT
      a CONNECT for that domain name (e.g. b'a\\nb'); prints the reply code.
"""
import ast
import socket
import statistics
import struct
import sys
import threading
import time


def login(port, source, user, pw, timeout=10):
    """One RFC 1929 login; returns (status byte or None, seconds)."""
    s = socket.socket()
    s.settimeout(timeout)
    s.bind((source, 0))
    try:
        s.connect(("127.0.0.1", port))
        s.sendall(b"\x05\x01\x02")
        if s.recv(2) != b"\x05\x02":
            return None, 0.0
        u, p = user.encode(), pw.encode()
        t0 = time.monotonic()
        s.sendall(bytes([1, len(u)]) + u + bytes([len(p)]) + p)
        r = s.recv(2)
        dt = time.monotonic() - t0
        return (r[1] if len(r) == 2 else None), dt
    except OSError:
        return None, 0.0
    finally:
        s.close()


def cmd_flood(a):
    port, source, user, pw = int(a[0]), a[1], a[2], a[3]
    threads, secs = int(a[4]), float(a[5])
    end = time.monotonic() + secs
    counts = {"attempts": 0, "accepted": 0}
    lock = threading.Lock()

    def run():
        n = 0
        while time.monotonic() < end and n < 1000:
            st, _ = login(port, source, user, pw)
            n += 1
            with lock:
                counts["attempts"] += 1
                counts["accepted"] += st == 0
            time.sleep(0.1)

    ts = [threading.Thread(target=run, daemon=True) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(secs + 30)
    print("attempts %d accepted %d" % (counts["attempts"], counts["accepted"]))


def cmd_time(a):
    port, source, user, pw, count = int(a[0]), a[1], a[2], a[3], int(a[4])
    times, answers = [], []
    for _ in range(count):
        st, dt = login(port, source, user, pw)
        times.append(dt * 1000)
        answers.append(str(st))
    print("%.1f %s" % (statistics.median(times), ",".join(answers)))


def cmd_name(a):
    port, name, dport = int(a[0]), ast.literal_eval(a[1]), int(a[2])
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(b"\x05\x01\x00")
    if s.recv(2) != b"\x05\x00":
        raise SystemExit("socks: method refused")
    s.sendall(b"\x05\x01\x00\x03" + bytes([len(name)]) + name + struct.pack(">H", dport))
    r = s.recv(10)
    print(r[1] if len(r) > 1 else "closed")


CMDS = {"flood": cmd_flood, "time": cmd_time, "name": cmd_name}
if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in CMDS:
        raise SystemExit(__doc__)
    CMDS[sys.argv[1]](sys.argv[2:])
