#!/bin/bash
# More than one pair: two isps serving different inside networks through
# one esp, each reached correctly; an isp whose networks overlap is
# refused, with a log line on both sides; one isp with two esps serves the
# clients of both.
. "$(dirname "$0")/../lib.sh"
PEER="python3 $TESTS/tools/peer.py"

mkdir -p "$T/a" "$T/b"
head -c 200000 /dev/urandom >"$T/a/f"
head -c 200000 /dev/urandom >"$T/b/f"
http_start "$T/a" 127.0.0.1
PA=$HTTP_PORT
http_start "$T/b" 127.0.0.2
PB=$HTTP_PORT
# Each isp has its own key; the esp knows each isp by it.
for id in isp-a isp-b isp-c isp-d; do write_psk "$T/$id.psk"; done
export ESP_ISPS="isp-a:$T/isp-a.psk isp-b:$T/isp-b.psk isp-c:$T/isp-c.psk isp-d:$T/isp-d.psk"
ESP_ADDR=127.0.0.1 SOCKS_ADDR=127.0.0.1
SESSION_PORT=$(free_port) SOCKS_PORT=$(free_port)
esp_conf "$T/esp.conf"
esp_start
wait_for_log "$ESP_LOG" "listening for SOCKS5" 10

start_isp() { # ID ALLOW LOG
	ISP_ID=$1 ALLOW=$2 ISP_PSK=$T/$1.psk isp_conf "$T/$1.conf"
	bg_start "$3" "$BIN/isp" -v -c "$T/$1.conf"
}
start_isp isp-a "127.0.0.1/32" "$T/isp-a.log"
wait_for_log "$ESP_LOG" 'isp "isp-a" serves' 10
start_isp isp-b "127.0.0.2/32" "$T/isp-b.log"
wait_for_log "$ESP_LOG" 'isp "isp-b" serves' 10

fetch() { # HOST PORT DIR
	rm -f "$T/out"
	curl -sS --fail --max-time 30 --socks5-hostname "127.0.0.1:$SOCKS_PORT" \
		-o "$T/out" "http://$1:$2/f" || fail "fetch from $1:$2 failed"
	[ "$(sha "$T/out")" = "$(sha "$3/f")" ] || fail "$1:$2: SHA-256 differs"
}
fetch 127.0.0.1 "$PA" "$T/a"
fetch 127.0.0.2 "$PB" "$T/b"
grep -q -- "-> 127.0.0.1:$PA (127.0.0.1:$PA) opened" "$T/isp-a.log" || fail "isp-a did not serve 127.0.0.1"
grep -q -- "-> 127.0.0.2:$PB (127.0.0.2:$PB) opened" "$T/isp-b.log" || fail "isp-b did not serve 127.0.0.2"
grep -q -- "-> 127.0.0.2" "$T/isp-a.log" && fail "isp-a served isp-b's network"
grep -q -- "-> 127.0.0.1:$PA" "$T/isp-b.log" && fail "isp-b served isp-a's network"
ok "two isps through one esp, each destination reached through its own isp"

# An isp claiming 127.0.0.0/8 overlaps both: refused, logged both sides.
start_isp isp-c "127.0.0.0/8" "$T/isp-c.log"
wait_for_log "$ESP_LOG" 'isp "isp-c" refused: what it serves overlaps isp "isp-(a|b)": 127.0.0.0/8 and 127.0.0.[12]/32' 10
wait_for_log "$T/isp-c.log" 'peer says goodbye: refused: isp "isp-c" refused: what it serves overlaps' 10
fetch 127.0.0.1 "$PA" "$T/a"
fetch 127.0.0.2 "$PB" "$T/b"
ok "overlapping isp refused: $(grep -o 'isp "isp-c" refused.*' "$ESP_LOG" | head -1)"

# One isp, two esps: clients of both are served.
SESSION_PORT2=$(free_port) SOCKS_PORT2=$(free_port)
SESSION_PORT=$SESSION_PORT2 SOCKS_PORT=$SOCKS_PORT2 esp_conf "$T/esp2.conf"
bg_start "$T/esp2.log" "$BIN/esp" -v -c "$T/esp2.conf"
wait_for_log "$T/esp2.log" "listening for SOCKS5" 10
ISP_ESP="127.0.0.1:$SESSION_PORT 127.0.0.1:$SESSION_PORT2" start_isp isp-d "127.0.0.3/32" "$T/isp-d.log"
wait_for_log "$T/esp2.log" 'isp "isp-d" serves' 10
wait_for_log "$ESP_LOG" 'isp "isp-d" serves' 10
mkdir -p "$T/d"
head -c 100000 /dev/urandom >"$T/d/f"
http_start "$T/d" 127.0.0.3
PD=$HTTP_PORT
fetch 127.0.0.3 "$PD" "$T/d"
SOCKS_PORT=$SOCKS_PORT2 fetch 127.0.0.3 "$PD" "$T/d"
[ "$(grep -c -- "-> 127.0.0.3:$PD (127.0.0.3:$PD) opened" "$T/isp-d.log")" = 2 ] || fail "isp-d did not serve both esps"
ok "one isp with two esps serves the clients of both"
