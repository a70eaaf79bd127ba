#!/bin/bash
# A taken-over esp that sends guesses all at once, without waiting for
# answers, gets no more checks than one that waits: checks under way
# count against [isp] login_failures until they end. A test esp sends 30
# wrong passwords for dave and then his right one, at once, with
# login_failures = 5: 5 are checked and refused, the other 26 (the right
# one among them) are answered busy without a check.
. "$(dirname "$0")/../lib.sh"
ROGUE=$TOP/build/tests/policy/rogue_esp
[ -x "$ROGUE" ] || fail "$ROGUE is not built (make tests)"

mkdir -p "$T/a"
echo a >"$T/a/f"
http_start "$T/a"
PA=$HTTP_PORT
write_psk "$T/pair.psk"
ESP_ADDR=127.0.0.1 SOCKS_ADDR=127.0.0.1 SESSION_PORT=$(free_port) SOCKS_PORT=$(free_port)
esp_conf "$T/rogue.conf"
ALLOW="127.0.0.1/32:1"
ISP_EXTRA="login_failures = 5"
ISP_SECTIONS="
[policy]
anonymous = no
[user dave]
password = $(pwhash dave-secret)
allow = 127.0.0.1/32:$PA
"
isp_conf "$T/isp.conf"
asks=()
for n in $(seq 30); do asks+=("dave:guess$n" "127.0.0.1:$PA"); done
asks+=("dave:dave-secret" "127.0.0.1:$PA")
ROGUE_PARALLEL=1 bg_start "$T/rogue.log" "$ROGUE" "$T/rogue.conf" "$SESSION_PORT" "${asks[@]}"
wait_for_log "$T/rogue.log" listening 10
isp_start
wait_for_count "$T/rogue.log" "^dave:[^ ]* 127.0.0.1:$PA: [0-9]+$" 31 30
grep -q "^dave:dave-secret 127.0.0.1:$PA: 0$" "$T/rogue.log" && fail "the right password, sent in the burst, was taken"
checked=$(count_log "$T/rogue.log" ": 2$")
busy=$(count_log "$T/rogue.log" ": 1$")
[ "$checked" = 5 ] && [ "$busy" = 26 ] || fail "31 at once: $checked refused, $busy busy; want 5 and 26: $(sort "$T/rogue.log" | uniq -c | head)"
grep -q "^dave:dave-secret 127.0.0.1:$PA: 1$" "$T/rogue.log" || fail "the right password: $(grep dave-secret "$T/rogue.log")"
[ "$(count_log "$ISP_LOG" 'login for user "dave" refused$')" = 5 ] || fail "the isp did not check exactly 5"
grep -q 'user dave: 5 password checks under way and 0 failed: not checking more at once (\[isp\] login_failures)' "$ISP_LOG" ||
	fail "the isp did not say why it checked no more"
ok "31 passwords for dave at once at login_failures = 5: 5 checked and refused, 26 busy unchecked, the right one among them"
