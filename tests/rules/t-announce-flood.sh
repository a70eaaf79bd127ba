#!/bin/bash
# A client cannot fill the daemons' logs with announcements: 20000 PORT
# lines that do not decode, in one stream on a scanned port, are each
# neutralised before the server sees them, but each daemon logs and
# audits at most 20 announcements a second of one channel, and says once
# a second that it left the rest out.
. "$(dirname "$0")/../lib.sh"
SRV="python3 $TESTS/tools/linesrv.py"
FTP_PORT=$(free_port)
mkdir -p "$T/rules"
sed -E "s/^(ports *= *).*/\1$FTP_PORT/" "$TOP/rules/ftp.ini" >"$T/rules/ftp.ini"
bg_start "$T/ftp-srv.out" $SRV "$FTP_PORT" "$T/ftp.log"
wait_for_log "$T/ftp-srv.out" listening 10
ALLOW="127.0.0.1/32:$FTP_PORT"
ISP_EXTRA="rules = $T/rules"
pair_start
wait_for_log "$ESP_LOG" 'rules "ftp.ini" loaded' 10

python3 - "$SOCKS_PORT" "$FTP_PORT" "$TESTS/tools" >"$T/client.out" <<'PY'
import os, socket, sys, time
sys.path.insert(0, sys.argv[3])
from peer import socks_connect
s, code = socks_connect(int(sys.argv[1]), "127.0.0.1", int(sys.argv[2]))
assert code == 0, code
s.sendall(b"PORT 10,9,8,7,1,281\r\n" * 20000)
s.sendall(b"QUIT\r\n")
print("sent", flush=True)
s.settimeout(30)
try:
    while s.recv(65536):
        pass
except OSError:
    pass
PY
wait_for_log "$T/ftp.log" "QUIT" 60
n=$(grep -c "PORT" "$T/ftp.log")
bad=$(grep -c "281" "$T/ftp.log")
[ "$n" = 20000 ] && [ "$bad" = 0 ] || fail "the server got $n PORT lines, $bad as sent"
ok "20000 PORTs that do not decode: all 20000 neutralised before the server"
for d in isp esp; do
	log=$T/$d.log
	a=$(count_log "$log" 'announcement "PORT 10,9,8,7,1,281')
	r=$(count_log "$log" 'refused announcement "PORT 10,9,8,7,1,281')
	au=$(count_log "$log" 'audit .*event=announce .*fate=refused')
	lines=$(grep -vc "\[debug\]" "$log")
	[ "$a" -ge 20 ] && [ "$a" -le 400 ] || fail "$d logged $a announcements of 20000"
	[ "$lines" -le 1500 ] || fail "$d's log has $lines lines"
	grep -q "announcements past 20 a second on a channel or 200 in all: handled, not logged or audited" "$log" ||
		fail "$d did not say that it left announcements out"
	ok "$d: $a announcement lines ($r refusals, $au audit lines; $lines lines in all, not counting debug) for 20000"
done
