#!/bin/bash
# A reverse connection through the agent reaches only a port the program
# itself listens on. An isp approves a reverse connection for what it saw
# on the channel, and what it saw may have been put there on the way (a
# taken-over esp writes "PORT 127,0,0,1,..." into the stream): so before
# it connects, the agent checks that the process holding the program's
# connection also holds a socket listening on the approved port. Here the
# program announces its own port (the server fetches 256 KiB, checked by
# SHA-256), then a port another process listens on: the isp approves
# that too, the agent refuses it with its reason, so the isp passes the
# PORT on as port 0; the other process sees no connection.
. "$(dirname "$0")/../../lib.sh"
SH_MODE=agent
. "$(dirname "$0")/../common.sh"
need_cmd python3

FTP_PORT=$(free_port)
mkdir -p "$T/rules"
sed -E "s/^(ports *= *).*/\1$FTP_PORT/" "$TOP/rules/ftp.ini" >"$T/rules/ftp.ini"
bg_start "$T/srv.out" python3 "$TESTS/tools/portback.py" "$FTP_PORT" "$T/srv.log"
wait_for_log "$T/srv.out" listening 10
ALLOW_EXTRA="127.0.0.1/32:$FTP_PORT"
ISP_EXTRA="rules = $T/rules"
sh_pair
cat >"$T/ftp.conf" <<CONF
[sockhook]
$(sh_door)
route = 127.0.0.1/32:$FTP_PORT
CONF

# The other process: a listener that logs any connection.
python3 - >"$T/other.log" 2>&1 <<'PY' &
import socket, time
ls = socket.socket()
ls.bind(("127.0.0.1", 0))
ls.listen(4)
ls.settimeout(1)
print("listening", ls.getsockname()[1], flush=True)
end = time.monotonic() + 40
while time.monotonic() < end:
    try:
        c, a = ls.accept()
        print("accepted", a, flush=True)
        c.sendall(b"secret of another program\n")
        c.close()
    except socket.timeout:
        pass
PY
other_pid=$!
wait_for_log "$T/other.log" listening 10
OTHER=$(awk '/^listening/ {print $2}' "$T/other.log")

# The program: an FTP client that announces its own port or another.
cat >"$T/client.py" <<'PY'
import hashlib, os, socket, sys
port, mode = int(sys.argv[1]), sys.argv[2]
c = socket.create_connection(("127.0.0.1", port), timeout=20)
f = c.makefile("rb")
print("greeting", f.readline().strip().decode(), flush=True)
if mode == "own":
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(1)
    ls.settimeout(20)
    p = ls.getsockname()[1]
else:
    p = int(mode)
c.sendall(b"PORT 127,0,0,1,%d,%d\r\n" % (p >> 8, p & 255))
if mode == "own":
    d, _ = ls.accept()
    data = os.urandom(256 * 1024)
    d.sendall(data)
    d.close()
    print("sent", hashlib.sha256(data).hexdigest(), len(data), flush=True)
print("reply", f.readline().strip().decode(), flush=True)
PY

# The program's own port: the server connects back and gets the data.
"$BIN/sockhook" -c "$T/ftp.conf" -- python3 "$T/client.py" "$FTP_PORT" own >"$T/own.out" 2>&1 ||
	fail "the program announcing its own port failed: $(cat "$T/own.out")"
sent=$(awk '/^sent/ {print $2, $3}' "$T/own.out")
grep -q "^reply 200 PORT done" "$T/own.out" || fail "own port: $(cat "$T/own.out")"
[ -n "$sent" ] && grep -qx "data $sent" "$T/srv.log" || fail "own port: sent '$sent', server: $(cat "$T/srv.log")"
alog=$(ls "$XDG_RUNTIME_DIR"/dynpass/agent-*.log)
grep -q "reverse 127.0.0.1:[0-9]* for channel [0-9]*: connecting" $alog || fail "the agent did not connect: $(grep reverse $alog)"
ok "a port the program listens on: the server connected back through the pair and got 256 KiB intact"

# Another process's port, announced on the program's channel.
: >"$T/srv.log"
"$BIN/sockhook" -c "$T/ftp.conf" -- python3 "$T/client.py" "$FTP_PORT" "$OTHER" >"$T/other.out" 2>&1 ||
	fail "the program announcing another port failed: $(cat "$T/other.out")"
grep -q "^reply 200 PORT done" "$T/other.out" || fail "other port: $(cat "$T/other.out")"
grep -q "event=announce side=isp .*announcement=\"PORT 127,0,0,1,$((OTHER >> 8)),$((OTHER & 255))\\\\\\\\r\\\\\\\\n\" fate=honoured .*end=\"reverse connection asked\"" "$ISP_LOG" ||
	fail "the isp did not approve the announcement: $(grep 'event=announce' "$ISP_LOG")"
grep -q "reverse connection to 127.0.0.1:$OTHER for channel [0-9]* refused: the program does not listen there" $alog ||
	fail "the agent did not refuse with its reason: $(grep reverse $alog)"
grep -qx "line b'PORT 127,0,0,1,0,0\\\\r'" "$T/srv.log" && grep -q "^connect failed" "$T/srv.log" ||
	fail "the server was not told port 0: $(cat "$T/srv.log")"
grep -q "^data" "$T/srv.log" && fail "the server got data: $(cat "$T/srv.log")"
grep -q "^accepted" "$T/other.log" && fail "the other process got a connection: $(cat "$T/other.log")"
ok "another process's port, announced on the program's channel: the agent refuses (\"the program does not listen there\"), the isp neutralises the PORT to port 0, and the other process sees no connection"
kill $other_pid 2>/dev/null
