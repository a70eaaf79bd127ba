#!/bin/bash
# One esp session cannot keep the isp's scrypt busy: [isp]
# session_login_rate bounds the password checks a session starts a
# minute, whatever the user (a user the policy does not know is checked
# against a dummy hash, so the per-user limit does not count it). A test
# esp sends 40 OPENs at once for 40 users nobody knows, at a rate of 8:
# 8 are checked and refused, 32 answered busy unchecked; the isp's hash
# counter moves by 8. Another esp's session keeps its own budget: a
# SOCKS client logs in through it and fetches a file meanwhile.
. "$(dirname "$0")/../lib.sh"
ROGUE=$TOP/build/tests/policy/rogue_esp
[ -x "$ROGUE" ] || fail "$ROGUE is not built (make tests)"
mkdir -p "$T/a"
head -c 65536 /dev/urandom >"$T/a/f"
http_start "$T/a"
PA=$HTTP_PORT
write_psk "$T/pair.psk"
ESP_ADDR=127.0.0.1 SOCKS_ADDR=127.0.0.1
ROGUE_PORT=$(free_port)
SESSION_PORT=$(free_port) SOCKS_PORT=$(free_port)
esp_conf "$T/esp.conf"
esp_start
wait_for_log "$ESP_LOG" "listening for SOCKS5" 10
METRICS_PORT=$(free_port)
ALLOW="127.0.0.1/32:1"
ISP_ESP="127.0.0.1:$SESSION_PORT 127.0.0.1:$ROGUE_PORT"
ISP_EXTRA="session_login_rate = 8"
ISP_SECTIONS="
[metrics]
listen = 127.0.0.1:$METRICS_PORT
[policy]
anonymous = no
[user erin]
password = $(pwhash erin-secret)
allow = 127.0.0.1/32:$PA
"
isp_conf "$T/isp.conf"
asks=()
for n in $(seq 40); do asks+=("nobody$n:guess" "127.0.0.1:$PA"); done
esp_conf "$T/rogue.conf"
ROGUE_PARALLEL=1 bg_start "$T/rogue.log" "$ROGUE" "$T/rogue.conf" "$ROGUE_PORT" "${asks[@]}"
wait_for_log "$T/rogue.log" listening 10
isp_start
wait_for_count "$T/rogue.log" "^nobody[0-9]*:guess 127.0.0.1:$PA: [0-9]+$" 40 60
checked=$(count_log "$T/rogue.log" ": 2$")
busy=$(count_log "$T/rogue.log" ": 1$")
[ "$checked" = 8 ] && [ "$busy" = 32 ] || fail "40 at once: $checked refused, $busy busy; want 8 and 32"
grep -q "session with esp 127.0.0.1:$ROGUE_PORT: 8 password or certificate checks within a minute: answering busy (\[isp\] session_login_rate)" "$ISP_LOG" ||
	fail "the isp did not say why it checked no more"
hashes=$(curl -s "http://127.0.0.1:$METRICS_PORT/metrics" | awk '/^dynpass_password_hashes_total/ { n += $2 } END { print n + 0 }')
[ "$hashes" = 8 ] || fail "the isp computed $hashes password hashes, want 8"
ok "40 unknown users at once from one esp session at session_login_rate = 8: 8 checked, 32 busy, 8 hashes computed"
wait_for_log "$ESP_LOG" "isp \".*\" serves" 10
curl -sS --socks5 "erin:erin-secret@127.0.0.1:$SOCKS_PORT" -o "$T/got" "http://127.0.0.1:$PA/f" ||
	fail "erin's login through the other esp failed"
[ "$(sha "$T/got")" = "$(sha "$T/a/f")" ] || fail "SHA-256 differs"
ok "the other esp's session keeps its own budget: erin logs in and fetches 64 KiB (by hash)"
