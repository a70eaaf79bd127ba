#!/bin/bash
# A taken-over esp cannot fill the isp's log with refused agent logins,
# nor keep it verifying certificates and signing: it may send refused
# login steps as fast as it likes, and the isp logs 50 refusals a second
# and says once a second that it left the rest out; each certificate
# login's first step counts against [isp] session_login_rate, like a
# password check. Every step is still answered.
. "$(dirname "$0")/../lib.sh"
. "$TESTS/pki.sh"
ROGUE=$TOP/build/tests/policy/rogue_door
[ -x "$ROGUE" ] || fail "$ROGUE is not built (make tests)"
pki_ca agentca
pki_cert esp-door agentca esp "IP:127.0.0.1"
pki_ca userca
write_psk "$T/pair.psk"
ESP_ADDR=127.0.0.1 SOCKS_ADDR=127.0.0.1 SOCKS_PORT=$(free_port)
P1=$(free_port)
P2=$(free_port)
SESSION_PORT=$P1 esp_conf "$T/rogue.conf"
ALLOW="127.0.0.1/32:1"
ISP_ESP="127.0.0.1:$P1 127.0.0.1:$P2"
ISP_EXTRA="session_login_rate = 8"
ISP_SECTIONS="
[policy]
user_ca = $T/userca.crt
[user alice]
password = $(pwhash alice-secret)
"
isp_conf "$T/isp.conf"
ROGUE_FLOOD=300 ROGUE_FLOOD_KIND=garbage bg_start "$T/garbage.log" "$ROGUE" "$T/rogue.conf" "$P1" \
	"$(free_port)" "$T/esp-door.crt" "$T/esp-door.key" 1
ROGUE_FLOOD=20 ROGUE_FLOOD_KIND=cert bg_start "$T/cert.log" "$ROGUE" "$T/rogue.conf" "$P2" \
	"$(free_port)" "$T/esp-door.crt" "$T/esp-door.key" 1
wait_for_log "$T/garbage.log" listening 10
wait_for_log "$T/cert.log" listening 10
isp_start
wait_for_log "$T/garbage.log" "^flood: " 30
wait_for_log "$T/cert.log" "^flood: " 30
grep -qx "flood: 0 continue, 0 busy, 600 denied" "$T/garbage.log" || fail "garbage: $(cat "$T/garbage.log")"
ok "300 malformed first steps and 300 second steps without a first, at once: all 600 denied"
grep -qx "flood: 0 continue, 12 busy, 8 denied" "$T/cert.log" || fail "certificate first steps: $(cat "$T/cert.log")"
grep -q "session with esp 127.0.0.1:$P2: 8 password or certificate checks within a minute: answering busy (\[isp\] session_login_rate)" "$ISP_LOG" ||
	fail "the isp did not say why it checked no more certificates"
ok "20 certificate first steps at session_login_rate = 8: 8 checked (and denied), 12 answered busy unchecked"

# Every refused step counts against the one budget, the 8 certificate
# ones too (whatever their reason).
refused=$(count_log "$ISP_LOG" "agent login from 127\.0\.0\.1:0(: .*|( for user \"[^\"]*\")? )refused")
lines=$(grep -vc "isp\[debug\]" "$ISP_LOG") # -v: debug lines are asked for
[ "$refused" -ge 50 ] && [ "$refused" -le 150 ] || fail "$refused refused steps logged of 608 (50 a second)"
[ "$lines" -le 250 ] || fail "the isp's log has $lines lines"
grep -q "isp\[warn\]: more than 50 agent login steps refused a second: the rest are counted (dynpass_logins_total), not logged ([0-9]* more like it in the second before)" "$ISP_LOG" ||
	fail "the isp did not say that it left refusals out"
ok "the isp logged $refused of the refused steps ($lines lines in all, not counting debug) and said it left the rest out"
