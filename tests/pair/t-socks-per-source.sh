#!/bin/bash
# One address cannot take every descriptor of the esp: [esp]
# max_connections_per_source bounds the SOCKS connections it holds from
# one source (an IPv4 address, an IPv6 /64), in their handshake and
# established alike. At a limit of 5:
#  - 5 connections from 127.0.0.1 are served (each echoes 64 KiB, checked
#    by hash); a 6th is closed before any reply, and the log says why;
#  - 127.0.0.2 is served meanwhile;
#  - when one of the 5 closes, 127.0.0.1 gets its place back;
#  - a connection still in its handshake holds a place too;
#  - 300 connections at once from one address: the esp holds at most 5
#    more descriptors, and all of them are back when they close.
. "$(dirname "$0")/../lib.sh"
fds() { ls "/proc/$1/fd" | wc -l; }
ECHO_PORT=$(free_port)
ALLOW="127.0.0.1/32:$ECHO_PORT"
ESP_EXTRA="max_connections_per_source = 5"
pair_start
base=$(fds "$ESP_PID")

cat >"$T/persrc.py" <<'PY'
import hashlib, os, socket, struct, sys, threading, time
sys.path.insert(0, os.environ["TESTS"] + "/tools")
socks_port, echo_port, esp_pid = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]

ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", echo_port))
ls.listen(512)

def echo(c):
    with c:
        while True:
            b = c.recv(65536)
            if not b:
                return
            c.sendall(b)

def serve():
    while True:
        c, _ = ls.accept()
        threading.Thread(target=echo, args=(c,), daemon=True).start()

threading.Thread(target=serve, daemon=True).start()

def connect(src):
    s = socket.socket()
    s.settimeout(10)
    s.bind((src, 0))
    s.connect(("127.0.0.1", socks_port))
    return s

def recv_exact(s, n):
    b = b""
    while len(b) < n:
        x = s.recv(n - len(b))
        if not x:
            raise EOFError("closed after %d of %d bytes" % (len(b), n))
        b += x
    return b

def socks(src):
    """A CONNECT to the echo server, its 64 KiB echoed and checked."""
    s = connect(src)
    s.sendall(b"\x05\x01\x00")
    if recv_exact(s, 2) != b"\x05\x00":
        raise SystemExit("method refused")
    s.sendall(b"\x05\x01\x00\x01" + socket.inet_aton("127.0.0.1") + struct.pack(">H", echo_port))
    head = recv_exact(s, 10)
    if head[1] != 0:
        raise SystemExit("reply %d" % head[1])
    data = os.urandom(65536)
    threading.Thread(target=s.sendall, args=(data,), daemon=True).start()
    got = recv_exact(s, len(data))
    if hashlib.sha256(got).digest() != hashlib.sha256(data).digest():
        raise SystemExit("echo differs")
    return s

def refused(src):
    """Connect and greet: the esp closes with no reply."""
    s = connect(src)
    try:
        s.sendall(b"\x05\x01\x00")
        b = s.recv(2)
    except ConnectionResetError:
        b = b""
    s.close()
    return b == b""

def fds():
    return len(os.listdir("/proc/%s/fd" % esp_pid))

held = [socks("127.0.0.1") for _ in range(5)]
print("five served", flush=True)
print("sixth refused" if refused("127.0.0.1") else "sixth SERVED", flush=True)
other = socks("127.0.0.2")
print("other address served", flush=True)
held.pop().close()
time.sleep(0.5)
try:
    held.append(socks("127.0.0.1"))
    print("place back", flush=True)
except Exception as e:
    print("place NOT back: %s" % e, flush=True)
# A connection in its handshake holds a place: 4 established + 1 silent.
held.pop().close()
time.sleep(0.5)
silent = connect("127.0.0.1")
time.sleep(0.3)
print("silent holds a place" if refused("127.0.0.1") else "silent holds NO place", flush=True)
silent.close()
other.close()
for s in held:
    s.close()
time.sleep(0.5)
start = fds()
flood = []
for _ in range(300):
    try:
        flood.append(connect("127.0.0.1"))
    except OSError:
        pass
time.sleep(1)
print("flood opened %d, esp descriptors %d more" % (len(flood), fds() - start), flush=True)
for s in flood:
    s.close()
PY
TESTS=$TESTS timeout 120 python3 "$T/persrc.py" "$SOCKS_PORT" "$ECHO_PORT" "$ESP_PID" >"$T/persrc.out" 2>&1 ||
	fail "the client failed: $(cat "$T/persrc.out")"
cat "$T/persrc.out"
grep -qx "five served" "$T/persrc.out" || fail "five connections were not served"
grep -qx "sixth refused" "$T/persrc.out" || fail "a sixth connection from one address was served"
grep -q "socks: client 127.0.0.1:[0-9]* refused: 5 connections from that address (\[esp\] max_connections_per_source)" "$ESP_LOG" ||
	fail "no log line for the refused connection"
grep -qx "other address served" "$T/persrc.out" || fail "another address was not served"
grep -qx "place back" "$T/persrc.out" || fail "a closed connection did not give its place back"
grep -qx "silent holds a place" "$T/persrc.out" || fail "a connection in its handshake holds no place"
ok "limit 5: 5 served (64 KiB echoed, hash checked), the 6th closed with a log line, 127.0.0.2 served, places come back"
more=$(sed -n 's/^flood opened [0-9]*, esp descriptors \(-*[0-9]*\) more$/\1/p' "$T/persrc.out")
[ -n "$more" ] || fail "no flood line"
grep -q "^flood opened 300," "$T/persrc.out" || fail "the flood did not open 300 connections"
[ "$more" -le 6 ] || fail "the esp holds $more more descriptors for 300 connections from one address"
for i in $(seq 50); do
	[ "$(fds "$ESP_PID")" -le "$base" ] && break
	sleep 0.1
done
[ "$(fds "$ESP_PID")" -le "$base" ] || fail "the esp holds $(fds "$ESP_PID") descriptors after, $base before"
ok "300 connections from one address: the esp held $more more descriptors, and $base again after"
