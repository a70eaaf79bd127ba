#!/bin/bash
# Rule sets replaced by reloads are freed once no channel scans with them:
# 300 reloads of an isp with the shipped rule files (each reload compiles
# them again in the isp, and sends them to the esp, which compiles them
# too) leave both daemons' memory flat (RSS within 2 MiB after a
# warm-up). An FTP control connection opened before the reloads still
# scans with its old rules afterwards: a PASV answer on it is found and
# the announced opening works.
. "$(dirname "$0")/../lib.sh"
need_cmd python3
# As in t-reload-flood: no ASan quarantine, which hands one thread's
# frees to another's cache and makes RSS creep over hundreds of reloads.
export ASAN_OPTIONS=quarantine_size_mb=0:thread_local_quarantine_size_kb=0:malloc_context_size=10
FTP_PORT=$(free_port)
DATA_PORT=$(free_port)
mkdir -p "$T/rules"
sed -E "s/^(ports *= *).*/\1$FTP_PORT/" "$TOP/rules/ftp.ini" >"$T/rules/ftp.ini"
for f in "$TOP"/rules/*.ini; do
	[ "$(basename "$f")" = ftp.ini ] || cp "$f" "$T/rules/"
done
ALLOW="127.0.0.1/32:$FTP_PORT"
ISP_EXTRA="rules = $T/rules"
pair_start
nrules=$(ls "$T"/rules/*.ini | wc -l)
wait_for_count "$ESP_LOG" 'rules "[a-z]*\.ini" loaded' "$nrules" 10

# A server that answers PASV with DATA_PORT, and serves one byte string there.
python3 - "$FTP_PORT" "$DATA_PORT" >"$T/ftpd.log" 2>&1 <<'PY' &
import socket, sys, threading
cp, dp = int(sys.argv[1]), int(sys.argv[2])
ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", cp)); ls.listen(4)
ds = socket.socket(); ds.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ds.bind(("127.0.0.1", dp)); ds.listen(4)
print("listening", flush=True)
c, _ = ls.accept()
c.sendall(b"220 ready\r\n")
f = c.makefile("rb")
for line in f:
    if line.startswith(b"PASV"):
        c.sendall(b"227 Entering Passive Mode (127,0,0,1,%d,%d)\r\n" % (dp >> 8, dp & 255))
        d, _ = ds.accept()
        d.sendall(b"data after the reloads\n")
        d.close()
    elif line.startswith(b"QUIT"):
        c.sendall(b"221 bye\r\n")
        break
PY
_PIDS="$_PIDS $!"
wait_for_log "$T/ftpd.log" "^listening" 10
# The client: its control connection opens now; it waits for "go".
export TESTS
mkfifo "$T/go"
python3 - "$SOCKS_PORT" "$FTP_PORT" "$T/go" >"$T/client.out" 2>&1 <<'PY' &
import os, re, sys
sys.path.insert(0, os.environ["TESTS"] + "/tools")
from peer import socks_connect
s, code = socks_connect(int(sys.argv[1]), "127.0.0.1", int(sys.argv[2]))
f = s.makefile("rb")
print("control", code, f.readline().decode().strip(), flush=True)
open(sys.argv[3]).read()
s.sendall(b"PASV\r\n")
line = f.readline().decode().strip()
print("pasv", line, flush=True)
m = re.search(r"\((\d+),(\d+),(\d+),(\d+),(\d+),(\d+)\)", line)
host = ".".join(m.group(i) for i in range(1, 5))
port = int(m.group(5)) * 256 + int(m.group(6))
d, code = socks_connect(int(sys.argv[1]), host, port)
print("data", code, d.makefile("rb").readline().decode().strip(), flush=True)
s.sendall(b"QUIT\r\n")
print("quit", f.readline().decode().strip(), flush=True)
PY
cpid=$!
_PIDS="$_PIDS $cpid"
wait_for_log "$T/client.out" "^control 0 220 ready" 10

reloads=0
reload() { # N: N more reloads, each until the esp has every rule file again
	local k=0 i
	while [ $k -lt "$1" ]; do
		reloads=$((reloads + 1))
		kill -HUP "$ISP_PID"
		i=0
		while [ "$(count_log "$ESP_LOG" 'rules "[a-z]*\.ini" loaded')" -lt $(((reloads + 1) * nrules)) ]; do
			sleep 0.01
			i=$((i + 1))
			[ $i -lt 1000 ] || fail "reload $reloads did not reach the esp in 10 s"
		done
		k=$((k + 1))
	done
}
reload 30
isp0=$(rss_kb "$ISP_PID") esp0=$(rss_kb "$ESP_PID")
reload 300
isp1=$(rss_kb "$ISP_PID") esp1=$(rss_kb "$ESP_PID")
echo "after 30 reloads: isp $isp0 KiB, esp $esp0 KiB; after 330: isp $isp1 KiB, esp $esp1 KiB"
[ $((isp1 - isp0)) -le 2048 ] || fail "isp RSS grew by $((isp1 - isp0)) KiB over 300 reloads with rules"
[ $((esp1 - esp0)) -le 2048 ] || fail "esp RSS grew by $((esp1 - esp0)) KiB over 300 reloads with rules"
ok "300 reloads with $nrules rule files: isp $isp0 -> $isp1 KiB, esp $esp0 -> $esp1 KiB"

echo go >"$T/go"
wait "$cpid" || fail "the client: $(cat "$T/client.out")"
grep -q "^pasv 227 Entering Passive Mode (127,0,0,1," "$T/client.out" || fail "no PASV answer: $(cat "$T/client.out")"
grep -qx "data 0 data after the reloads" "$T/client.out" || fail "the announced opening: $(cat "$T/client.out")"
grep -qx "quit 221 bye" "$T/client.out" || fail "the control connection: $(cat "$T/client.out")"
ok "a control connection opened before the reloads still finds announcements: $(grep '^data' "$T/client.out")"
