#!/bin/bash
# A neutralised announcement can be longer than what came in ("PORT<CR>",
# 5 bytes, goes to the server as "PORT 127,0,0,1,0,0<CR><LF>"). Credit goes
# back to the sender for what came in, not for what went out: a client
# that sends nothing but such lines to a server that keeps reading, slowly,
# cannot make the isp queue more than a channel window toward it. Before,
# each byte the server read bought about five more bytes of queue.
. "$(dirname "$0")/../lib.sh"
need_cmd python3

FTP_PORT=$(free_port)
mkdir -p "$T/rules"
sed -E "s/^(ports *= *).*/\1$FTP_PORT/" "$TOP/rules/ftp.ini" >"$T/rules/ftp.ini"
# The server greets, then reads 512 KiB a second for 8 s.
bg_start "$T/srv.out" /usr/bin/python3 -c '
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(1); print("listening", flush=True)
s.settimeout(30)
c = s.accept()[0]
c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
c.sendall(b"220 ready\r\n")
got, first, t0 = 0, b"", time.monotonic()
while time.monotonic() - t0 < 8:
    d = c.recv(16384)
    if not d:
        break
    if not first:
        first = d[:40]
    got += len(d)
    time.sleep(len(d) / (512 << 10))
print("read %d first %r" % (got, first), flush=True)
time.sleep(2)
' "$FTP_PORT"
wait_for_log "$T/srv.out" listening 10
ALLOW="127.0.0.1/32:$FTP_PORT"
ISP_EXTRA="rules = $T/rules"
pair_start

isp0=$(rss_kb "$ISP_PID")
timeout 20 /usr/bin/python3 - "$SOCKS_PORT" "$FTP_PORT" "$TESTS/tools" >"$T/client.out" 2>&1 <<'PY' &
import socket, sys, threading, time
sys.path.insert(0, sys.argv[3])
from peer import socks_connect
s, code = socks_connect(int(sys.argv[1]), "127.0.0.1", int(sys.argv[2]))
assert code == 0, code
s.settimeout(12)
chunk = b"PORT\r" * 13107
sent, t0 = 0, time.monotonic()
try:
    while time.monotonic() - t0 < 9:
        s.sendall(chunk)
        sent += len(chunk)
except OSError as e:
    print("send:", e, flush=True)
print("sent %d" % sent, flush=True)
PY
CP=$!
# The highest RSS in the first 4 s, and in the 4 s after: a queue that
# grows without bound grows in both; a bounded one has stopped by then.
isp1=$isp0 isp2=$isp0
for i in $(seq 40); do
	r=$(rss_kb "$ISP_PID")
	if [ "$i" -le 20 ]; then
		[ "$r" -gt "$isp1" ] && isp1=$r
	else
		[ "$r" -gt "$isp2" ] && isp2=$r
	fi
	sleep 0.2
done
wait $CP
wait_for_log "$T/srv.out" "^read [0-9]+" 10
read=$(sed -n 's/^read \([0-9]*\) .*/\1/p' "$T/srv.out")
grep -qF "first b'PORT 127,0,0,1,0,0\\r\\n" "$T/srv.out" ||
	fail "the server's first bytes: $(cat "$T/srv.out")"
[ "$read" -gt $((2 << 20)) ] || fail "the server read only $read bytes: $(cat "$T/srv.out" "$T/client.out")"
[ "$isp2" -gt "$isp1" ] || isp2=$isp1
echo "isp RSS $isp0 -> $isp1 KiB in 4 s -> $isp2 KiB in 8 s; the server read $read bytes of neutralised PORTs"
# Room for the sanitizers in the first figure (about 8 MiB with them).
[ $((isp1 - isp0)) -lt 12288 ] || fail "the isp grew by $((isp1 - isp0)) KiB in 4 s"
[ $((isp2 - isp1)) -lt 2048 ] || fail "the isp grew by $((isp2 - isp1)) KiB more in the next 4 s: the queue has no bound"
ok "PORT<CR> by the MiB to a server reading 512 KiB/s: it read $read bytes, the isp grew $((isp1 - isp0)) KiB, then $((isp2 - isp1)) KiB"
