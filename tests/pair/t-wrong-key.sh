#!/bin/bash
# A wrong, missing or world-readable key means no session, a clear line on
# both sides, and retries with growing backoff.
. "$(dirname "$0")/../lib.sh"
PEER="python3 $TESTS/tools/peer.py"

write_psk "$T/pair.psk"
write_psk "$T/other.psk"
ISP_PSK=$T/other.psk
RECONNECT_MAX=30s
pair_start_nowait() {
	ESP_ADDR=127.0.0.1 SOCKS_ADDR=127.0.0.1
	SESSION_PORT=$(free_port) SOCKS_PORT=$(free_port)
	esp_conf "$T/esp.conf"
	isp_conf "$T/isp.conf"
	esp_start
	wait_for_log "$ESP_LOG" "listening for SOCKS5" 10
	isp_start
}
pair_start_nowait
wait_for_log "$ESP_LOG" "TLS handshake failed: .*\(wrong key or certificate\?\)" 10
wait_for_log "$ISP_LOG" "TLS handshake failed: .*\(wrong key or certificate\?\)" 10
wait_for_log "$ISP_LOG" "reconnecting to esp .* \(attempt 3\)" 15
grep -q "session with .* up" "$ISP_LOG" "$ESP_LOG" && fail "a session came up with the wrong key"
ok "wrong key: no session, both sides logged the handshake failure"
grep "reconnecting to esp" "$ISP_LOG" | head -3 | sed 's/^/    /'
d1=$(grep -m1 "attempt 1)" "$ISP_LOG" | sed -E 's/.* in ([0-9.]+) s.*/\1/')
d3=$(grep -m1 "attempt 3)" "$ISP_LOG" | sed -E 's/.* in ([0-9.]+) s.*/\1/')
awk -v a="$d1" -v b="$d3" 'BEGIN { exit !(b > a * 2) }' || fail "backoff did not grow: $d1 s then $d3 s"
ok "backoff grows ($d1 s, then $d3 s)"
code=$($PEER reply "$SOCKS_PORT" 127.0.0.1 80)
[ "$code" = 3 ] || fail "reply $code without a session, want 3"

# The right key under an identity the esp does not know: the esp names it.
kill "$ISP_PID"
ISP_ID=nosuch ISP_PSK=$T/pair.psk isp_conf "$T/isp-nosuch.conf"
ISP_LOG=$T/isp-nosuch.log
bg_start "$ISP_LOG" "$BIN/isp" -v -c "$T/isp-nosuch.conf"
wait_for_log "$ESP_LOG" 'tls: a peer offered the pre-shared key identity "nosuch", which is not configured here' 10
grep -q "session with .* up" "$ISP_LOG" && fail "a session came up under an unknown identity"
kill "$BG_PID"
ok "an unknown PSK identity: no session, and the esp names the identity offered"

# A key others or the group can read: refused at startup, and by -t.
chmod 644 "$T/pair.psk"
"$BIN/esp" -t -c "$T/esp.conf" >"$T/t.out" 2>&1 && fail "esp -t accepted a world-readable key"
grep -q "esp.conf: \[tls\] psk_file: .*pair.psk is accessible to group or others (mode 644); run chmod 600 .*pair.psk\$" "$T/t.out" ||
	fail "esp -t message: $(cat "$T/t.out")"
ok "world-readable key refused: $(cat "$T/t.out")"
chmod 640 "$T/pair.psk"
"$BIN/esp" -t -c "$T/esp.conf" >"$T/t.out" 2>&1 && fail "esp -t accepted a group-readable key"
grep -q "pair.psk is accessible to group or others (mode 640); run chmod 600 " "$T/t.out" ||
	fail "esp -t message: $(cat "$T/t.out")"
chmod 600 "$T/pair.psk"
cp "$T/pair.psk" "$T/grp.psk"
chmod 640 "$T/grp.psk"
sed -i "s#^psk_file = .*#psk_file = $T/grp.psk#" "$T/esp.conf"
timeout 10 "$BIN/esp" -c "$T/esp.conf" >"$T/start.out" 2>&1 && fail "esp started with a group-readable key"
grep -q "grp.psk is accessible to group or others (mode 640); run chmod 600 " "$T/start.out" ||
	fail "esp start message: $(cat "$T/start.out")"
ok "group-readable key refused by -t and at start: $(cat "$T/start.out")"

# Missing key file.
rm -f "$T/other.psk"
"$BIN/isp" -t -c "$T/isp.conf" >"$T/t.out" 2>&1 && fail "isp -t accepted a missing key"
grep -q "isp.conf: \[tls\] psk_file: .*other.psk: No such file or directory" "$T/t.out" ||
	fail "isp -t message: $(cat "$T/t.out")"
ok "missing key refused: $(cat "$T/t.out")"
