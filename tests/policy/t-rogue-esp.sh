#!/bin/bash
# A taken-over esp cannot widen access: a test esp that holds valid session
# credentials but ignores policy is refused by the isp, which checks every
# login itself and every open against its own policy. Without alice's
# password the esp cannot act as alice. Nor can it flood the isp's audit
# with refusals it claims: the isp writes 50 a second.
. "$(dirname "$0")/../lib.sh"
ROGUE=$TOP/build/tests/policy/rogue_esp
[ -x "$ROGUE" ] || fail "$ROGUE is not built (make tests)"

mkdir -p "$T/a" "$T/b"
echo a >"$T/a/f"
echo b >"$T/b/f"
http_start "$T/a"
PA=$HTTP_PORT
http_start "$T/b"
PB=$HTTP_PORT
write_psk "$T/pair.psk"
ESP_ADDR=127.0.0.1 SOCKS_ADDR=127.0.0.1 SESSION_PORT=$(free_port) SOCKS_PORT=$(free_port)
esp_conf "$T/rogue.conf"
ALLOW="127.0.0.1/32:1"
ISP_SECTIONS="
[policy]
anonymous = no
[user alice]
password = $(pwhash alice-secret)
allow = 127.0.0.1/32:$PA
"
isp_conf "$T/isp.conf"
ROGUE_NOTICES=300 bg_start "$T/rogue.log" "$ROGUE" "$T/rogue.conf" "$SESSION_PORT" \
	alice "127.0.0.1:$PA" alice:guessed "127.0.0.1:$PA" \
	alice:alice-secret "127.0.0.1:$PA" alice:alice-secret "127.0.0.1:$PB" \
	- "127.0.0.1:$PA" mallory "127.0.0.1:$PA"
wait_for_log "$T/rogue.log" listening 10
isp_start
wait_for_log "$T/rogue.log" "^mallory " 15
grep -qx "alice 127.0.0.1:$PA: 2" "$T/rogue.log" || fail "alice, who never logged in: $(cat "$T/rogue.log")"
grep -qx "alice:guessed 127.0.0.1:$PA: 2" "$T/rogue.log" || fail "alice with a wrong password: $(cat "$T/rogue.log")"
grep -qx "alice:alice-secret 127.0.0.1:$PA: 0" "$T/rogue.log" || fail "alice's own destination: $(cat "$T/rogue.log")"
grep -qx "alice:alice-secret 127.0.0.1:$PB: 2" "$T/rogue.log" || fail "forbidden destination: $(cat "$T/rogue.log")"
grep -qx "\- 127.0.0.1:$PA: 2" "$T/rogue.log" || fail "anonymous with anonymous off: $(cat "$T/rogue.log")"
grep -qx "mallory 127.0.0.1:$PA: 2" "$T/rogue.log" || fail "unknown user: $(cat "$T/rogue.log")"
[ "$(grep -c 'login for user "alice" refused' "$ISP_LOG")" = 1 ] || fail "the isp did not log the refused login"
grep -q 'for user "alice" through an agent refused: no such login on this session' "$ISP_LOG" ||
	fail "the isp did not log the forged agent login"
grep -q 'for user "mallory" through an agent refused: no such login on this session' "$ISP_LOG" ||
	fail "the isp did not log the unknown user"
ok "an OPEN as a user who never logged in, or with a wrong password, is refused by the isp"
grep -q "open .* -> 127.0.0.1:$PB refused: not allowed by policy" "$ISP_LOG" || fail "isp did not log the refusal"
grep -q "audit ts=[^ ]* event=channel side=isp channel=[0-9]* user=alice .*dst=127.0.0.1:$PB .*end=\"not allowed by policy\"" "$ISP_LOG" ||
	fail "no audit line for the refusal on the isp"
ok "the isp refused what the rogue esp asked beyond the policy (forbidden destination, anonymous, unknown user)"
n=$(grep -c 'audit .*event=refusal side=esp .*end="rogue says so"' "$ISP_LOG")
[ "$n" -ge 50 ] && [ "$n" -le 100 ] || fail "the isp wrote $n of 300 NOTICEs sent at once"
grep -q "esp .* reports more than 50 refusals a second; not all are in the audit" "$ISP_LOG" ||
	fail "the isp did not say it dropped reports"
ok "300 NOTICEs at once from the test esp: the isp writes $n (50 a second) and says so"
