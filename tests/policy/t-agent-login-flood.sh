#!/bin/bash
# A taken-over esp that floods the isp with agents' first login steps
# gets at most 64 exchanges waiting per session; the rest are answered
# busy at once, with a clear line at most once a second, and the isp's
# memory stays bounded (3000 waiting exchanges would take over 5 MiB).
. "$(dirname "$0")/../lib.sh"
. "$TESTS/pki.sh"
ROGUE=$TOP/build/tests/policy/rogue_door
[ -x "$ROGUE" ] || fail "$ROGUE is not built (make tests)"
pki_ca agentca
pki_cert esp-door agentca esp "IP:127.0.0.1"
write_psk "$T/pair.psk"
ESP_ADDR=127.0.0.1 SOCKS_ADDR=127.0.0.1 SESSION_PORT=$(free_port) SOCKS_PORT=$(free_port)
esp_conf "$T/rogue.conf"
ALLOW="127.0.0.1/32:1"
ISP_SECTIONS="
[user alice]
password = $(pwhash alice-secret)
"
isp_conf "$T/isp.conf"
ROGUE_FLOOD=3000 bg_start "$T/rogue.log" "$ROGUE" "$T/rogue.conf" "$SESSION_PORT" \
	"$(free_port)" "$T/esp-door.crt" "$T/esp-door.key" 1
wait_for_log "$T/rogue.log" listening 10
isp_start
wait_for_log "$ISP_LOG" "session with .* up" 15
base=$(rss_kb "$ISP_PID")
echo 5 >"/proc/$ISP_PID/clear_refs" # the peak from here on (not scrypt's at start)
wait_for_log "$T/rogue.log" "^flood: " 30
grep -qx "flood: 64 continue, 2936 busy" "$T/rogue.log" || fail "flood: $(cat "$T/rogue.log")"
grep -q "agent login from 127.0.0.1:0: too many logins on the session with .*; refused" "$ISP_LOG" ||
	fail "the isp did not say why"
[ "$(grep -c "too many logins" "$ISP_LOG")" -le 5 ] || fail "the isp logged every refusal"
peak=$(peak_kb "$ISP_PID")
[ "$peak" -lt $((base + 2048)) ] || fail "isp peak RSS $peak KiB (from $base)"
ok "3000 first steps at once: 64 wait, 2936 are told busy; isp peak RSS +$((peak - base)) KiB"
