#!/bin/bash
# A taken-over isp cannot aim the esp's outside connects: the esp connects
# only to the control channel's client, only to a port that client
# announced, once, and not to the esp host's own addresses unless
# outside_own_addresses says so. A test isp with valid credentials asks
# for the announced port on another host (127.0.0.2, where a listener
# counts connections: a bounce), the announced port, another port, the
# same port again and port 22.
. "$(dirname "$0")/../lib.sh"
ROGUE=$TOP/build/tests/policy/rogue_isp
[ -x "$ROGUE" ] || fail "$ROGUE is not built (make tests)"

FTP_PORT=$(free_port)
{
	printf 'rules-file=ftp.ini\n\n'
	sed -E "s/^(ports *= *).*/\1$FTP_PORT/" "$TOP/rules/ftp.ini"
} >"$T/rules.cfg"
write_psk "$T/pair.psk"
ESP_ADDR=127.0.0.1 SOCKS_ADDR=127.0.0.1

run() { # OWN: one esp, the rogue isp, one client announcing a port
	local own=$1 P
	SESSION_PORT=$(free_port) SOCKS_PORT=$(free_port)
	ESP_EXTRA="outside_own_addresses = $own" esp_conf "$T/esp-$own.conf"
	ESP_LOG=$T/esp-$own.log
	bg_start "$ESP_LOG" "$BIN/esp" -v -c "$T/esp-$own.conf"
	wait_for_log "$ESP_LOG" "listening for SOCKS5" 10
	ESP_ADDR=127.0.0.1 isp_conf "$T/rogue.conf"
	P=$(free_port)
	bg_start "$T/rogue-$own.out" "$ROGUE" "$T/rogue.conf" "127.0.0.1:$SESSION_PORT" \
		'allow=127.0.0.1/32\n' 'policy\nanonymous\t1\t1\t*\t127.0.0.1/32\n' \
		'rules-reset\n' "@$T/rules.cfg" "outside=127.0.0.2/$P,$((P + 1)),$P,$P,22"
	wait_for_log "$ESP_LOG" 'rules "ftp.ini" loaded' 15
	python3 - "$SOCKS_PORT" "$FTP_PORT" "$P" >"$T/client-$own.out" 2>&1 <<'PY'
import os, socket, sys, time
sys.path.insert(0, os.environ["TESTS"] + "/tools")
from peer import socks_connect
s, code = socks_connect(int(sys.argv[1]), "127.0.0.1", int(sys.argv[2]))
print("socks", code, flush=True)
p = int(sys.argv[3])
ls = socket.socket()
ls.bind(("127.0.0.1", p))
ls.listen(8)
ls.settimeout(0.5)
other = socket.socket()
other.bind(("127.0.0.2", p))
other.listen(8)
other.settimeout(0.5)
s.sendall(b"PORT 127,0,0,1,%d,%d\r\n" % (p >> 8, p & 255))
n, bounced, end = 0, 0, time.time() + 4
while time.time() < end:
    for l in (ls, other):
        try:
            l.accept()[0].close()
            if l is ls:
                n += 1
            else:
                bounced += 1
        except socket.timeout:
            pass
print("accepted", n, flush=True)
print("bounced", bounced, flush=True)
PY
	wait_for_log "$T/rogue-$own.out" "^outside 22: " 10
	OUT=$(grep "^outside" "$T/rogue-$own.out" | sort | tr '\n' ' ')
	ACCEPTED=$(sed -n 's/^accepted //p' "$T/client-$own.out")
	BOUNCED=$(sed -n 's/^bounced //p' "$T/client-$own.out")
	PORTS="$((P + 1)) $P"
}

export TESTS
run yes
set -- $PORTS
want=$(printf 'outside 127.0.0.2/%s: 2\noutside %s: 2\noutside %s: 0\noutside %s: 2\noutside 22: 2\n' "$2" "$1" "$2" "$2" | sort | tr '\n' ' ')
[ "$OUT" = "$want" ] ||
	fail "with own addresses allowed: $OUT; client: $(cat "$T/client-yes.out")"
[ "$ACCEPTED" = 1 ] || fail "the client was connected to $ACCEPTED times, want 1"
[ "$BOUNCED" = 0 ] || fail "the other host was connected to $BOUNCED times, want 0"
grep -q "refused, the client did not announce that port" "$ESP_LOG" || fail "no log line for the unannounced port"
grep -q "asked to connect to 127.0.0.2:$2 for channel [0-9]*: refused, not that channel's client" "$ESP_LOG" ||
	fail "no log line for the other host"
ok "the esp connects once to the announced port; the same port on another host, another port, the same port again and port 22 are refused"

run no
set -- $PORTS
want=$(printf 'outside 127.0.0.2/%s: 2\noutside %s: 2\noutside %s: 2\noutside %s: 2\noutside 22: 2\n' "$2" "$1" "$2" "$2" | sort | tr '\n' ' ')
[ "$OUT" = "$want" ] ||
	fail "with own addresses refused: $OUT"
[ "$ACCEPTED" = 0 ] || fail "the client was connected to $ACCEPTED times, want 0"
grep -q "refused, one of this host's own addresses (\[esp\] outside_own_addresses = no)" "$ESP_LOG" ||
	fail "no log line for the own address"
ok "by default the esp does not connect to its own host's addresses"
