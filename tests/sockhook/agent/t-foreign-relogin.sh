#!/bin/bash
# An isp can end only its own agent logins. A second isp, with valid
# credentials of its own, that sends the esp "I ended login N" for the
# first isp's login N (the right number, read from the first isp's
# log) changes nothing: the agent is not asked to log in again, its
# connections still go through, and the second isp's session goes on
# (the notice is well-formed, just not its to give).
. "$(dirname "$0")/../../lib.sh"
SH_MODE=agent
. "$(dirname "$0")/../common.sh"
need_cmd curl
ROGUE=$TOP/build/tests/policy/rogue_isp
[ -x "$ROGUE" ] || fail "$ROGUE is not built (make tests)"
write_psk "$T/pair.psk"
write_psk "$T/isp-b.psk"
export ESP_ISPS="test-isp:$T/pair.psk isp-b:$T/isp-b.psk"
sh_pair
bg_start "$T/agent.log" "$BIN/sockhook" agent -c "$T/sockhook.conf"
wait_for_log "$T/agent.log" "logged in as shuser by password" 10
wait_for_log "$ISP_LOG" 'user "shuser" is login [0-9]+$' 10
n=$(sed -n 's/.*user "shuser" is login \([0-9]*\)$/\1/p' "$ISP_LOG" | tail -1)
fetch_blob a.out || fail "a fetch through the agent failed: $(cat "$T/a.out.err")"

ISP_ID=isp-b ALLOW="127.0.0.2/32" ISP_PSK=$T/isp-b.psk isp_conf "$T/isp-b.conf"
"$ROGUE" "$T/isp-b.conf" "127.0.0.1:$SESSION_PORT" 'allow=127.0.0.2/32\n' \
	"loginreply=2:$n" 'allow=127.0.0.2/32\n' >"$T/rogue.log" 2>&1
grep -qx "sent loginreply 2:$n" "$T/rogue.log" || fail "rogue: $(cat "$T/rogue.log")"
grep -qx "sent config 3" "$T/rogue.log" || fail "the rogue's session ended: $(cat "$T/rogue.log")"
grep -q "ended its login" "$ESP_LOG" && fail "the esp took isp-b's notice for test-isp's login: $(grep 'ended its login' "$ESP_LOG")"
sleep 0.5
[ "$(count_log "$T/agent.log" "logged in as")" = 1 ] || fail "the agent logged in again: $(tail -3 "$T/agent.log")"
fetch_blob b.out || fail "a fetch after the foreign notice failed: $(cat "$T/b.out.err")"
ok "isp-b ending test-isp's login $n changes nothing: no relogin, the agent's fetch intact"

# Control: the same notice from test-isp's own session is taken (a
# reload that changes shuser's password sends it).
ISP_SECTIONS=${ISP_SECTIONS/"$(grep -A1 '^\[user shuser\]' "$T/isp.conf" | sed -n 's/^password = //p')"/"$(pwhash shuser-other)"}
isp_conf "$T/isp.conf"
kill -HUP "$ISP_PID"
wait_for_log "$ESP_LOG" 'agent 127\.0\.0\.1:[0-9]+ \(user shuser\): isp "test-isp" ended its login; asking it to log in again' 10 ||
	fail "test-isp's own notice was not taken"
ok "test-isp's own notice is taken: the agent is asked to log in again"
