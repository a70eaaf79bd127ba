#!/bin/bash
# The metrics endpoint under a hostile local client: 300 connections that
# never finish their request hold at most 64 places (a new one ends the
# oldest), the rest are cut off after the 10 s timeout (the esp's
# descriptors come back to where they were); a client that trickles a
# byte every 2 s is cut off 10 s after it came; headers over 8 KiB and a
# request line of 1 MiB are refused without growing its memory; scrapes
# keep answering throughout, one request per connection.
. "$(dirname "$0")/../lib.sh"
need_cmd curl python3
EM=$(free_port)
ESP_EXTRA="[metrics]
listen = 127.0.0.1:$EM
[esp]"
pair_start
fds() { ls "/proc/$ESP_PID/fd" | wc -l; }
base=$(fds)
rss0=$(rss_kb "$ESP_PID")

cat >"$T/flood.py" <<'PY'
# flood.py PORT N SECS: N connections, each sending half a request and
# then nothing; hold them SECS seconds, then report how many the server
# closed.
import socket, sys, time
port, n, secs = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
socks = []
for i in range(n):
    s = socket.create_connection(("127.0.0.1", port), timeout=20)  # SYNs may be retried
    s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
    socks.append(s)
print("open", len(socks), flush=True)
time.sleep(secs)
closed = 0
for s in socks:
    s.settimeout(0.5)
    try:
        if s.recv(1) == b"":
            closed += 1
    except socket.timeout:
        pass
    except OSError:
        closed += 1
print("closed", closed, flush=True)
PY
python3 "$T/flood.py" "$EM" 300 13 >"$T/flood.out" &
FPID=$!
wait_for_log "$T/flood.out" "^open 300$" 30
sleep 1
held=$(fds)
[ "$held" -ge $((base + 60)) ] && [ "$held" -le $((base + 66)) ] ||
	fail "300 slow connections hold $held descriptors, $base before (64 places)"
curl -sS --max-time 5 -D "$T/scrape.h" -o "$T/scrape" "http://127.0.0.1:$EM/metrics" ||
	fail "no scrape while 300 connections hang"
grep -q "^dynpass_" "$T/scrape" || fail "the scrape during the flood: $(head -c 300 "$T/scrape")"
grep -qi "^Connection: close" "$T/scrape.h" || fail "no Connection: close: $(cat "$T/scrape.h")"
ok "300 half requests hold $held descriptors ($base before, 64 places); scrapes still answer, one per connection"
wait "$FPID"
grep -qx "closed 300" "$T/flood.out" || fail "not all cut off: $(cat "$T/flood.out")"
sleep 1
after=$(fds)
[ "$after" -le $((base + 2)) ] || fail "$after descriptors after the timeout, $base before"
ok "all 300 cut off, the oldest by newer ones and the rest by the 10 s timeout; descriptors back to $after"

# A byte every 2 s never lets the idle timeout run: the connection's age
# ends it, 10 s after it came.
cat >"$T/trickle.py" <<'PY'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-A: ")
t0 = time.monotonic()
try:
    while time.monotonic() - t0 < 20:
        time.sleep(2)
        s.sendall(b"a")
        s.settimeout(0.01)
        try:
            if s.recv(1) == b"":
                break
        except socket.timeout:
            pass
    else:
        print("held 20s")
        sys.exit(0)
except OSError:
    pass
print("cut after %d s" % round(time.monotonic() - t0))
PY
python3 "$T/trickle.py" "$EM" >"$T/trickle.out"
grep -Eq "^cut after 1[0-4] s$" "$T/trickle.out" || fail "the trickling client: $(cat "$T/trickle.out")"
ok "a client sending a byte every 2 s: $(cat "$T/trickle.out")"

# Oversized headers and a huge request line: refused, memory flat.
python3 - "$EM" >"$T/big.out" <<'PY'
import socket, sys
port = int(sys.argv[1])
for req in (b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-A: " + b"a" * 9000 + b"\r\n\r\n",
            b"GET /" + b"m" * (1 << 20) + b" HTTP/1.1\r\n\r\n"):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        s.sendall(req)
    except OSError:
        pass
    try:
        data = s.recv(200)
    except OSError:
        data = b""
    print(data.split(b"\r\n")[0].decode() or "closed")
PY
cat "$T/big.out"
sed -n 1p "$T/big.out" | grep -q "^HTTP/1.1 400 " || fail "9 KB of headers: $(sed -n 1p "$T/big.out")"
sed -n 2p "$T/big.out" | grep -Eq "^(HTTP/1.1 4[0-9][0-9] |closed$)" ||
	fail "a 1 MiB request line: $(sed -n 2p "$T/big.out")"
rss1=$(rss_kb "$ESP_PID")
[ "$rss1" -le $((rss0 + 8192)) ] || fail "RSS grew from $rss0 to $rss1 KiB"
curl -sS --max-time 5 -o /dev/null "http://127.0.0.1:$EM/metrics" || fail "no scrape after"
ok "oversized requests refused; RSS $rss0 -> $rss1 KiB"
