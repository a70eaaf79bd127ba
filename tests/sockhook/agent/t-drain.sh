#!/bin/bash
# An isp's session that drains after a reload (its esp address changed)
# takes no new channels. An agent logged in through it is asked at once
# to log in again, through the isp's new session, so its programs' new
# connections go through while the download under way on the old
# session finishes intact there.
. "$(dirname "$0")/../../lib.sh"
SH_MODE=agent
. "$(dirname "$0")/../common.sh"
need_cmd curl
sh_pair
head -c 60000000 /dev/urandom >"$T/www/big"

bg_start "$T/agent.log" "$BIN/sockhook" agent -c "$T/sockhook.conf"
wait_for_log "$T/agent.log" "logged in as shuser by password" 10 ||
	fail "the agent did not log in: $(cat "$T/agent.log")"
fetch_blob a.out || fail "a fetch through the agent failed: $(cat "$T/a.out.err")"

# A download of 6 s or more holds the old session open while it drains.
hooked curl -sS --fail --max-time 60 --limit-rate 10M -o "$T/big.out" \
	"http://127.0.0.1:$HTTP_PORT/big" 2>"$T/big.err" &
big=$!
sleep 0.5

# The same esp under another name: the old session drains, a new one is
# dialled.
ISP_ESP=localhost:$SESSION_PORT
isp_conf "$T/isp.conf"
kill -HUP "$ISP_PID"
wait_for_log "$ISP_LOG" "reload: esp 127\.0\.0\.1:$SESSION_PORT removed: draining its session" 10
wait_for_count "$ISP_LOG" "session with .* up" 2 15
wait_for_log "$ESP_LOG" 'agent 127\.0\.0\.1:[0-9]+ \(user shuser\): isp "[^"]*" is draining its session; asking it to log in again' 10 ||
	fail "the esp did not ask the agent to log in again"
wait_for_count "$T/agent.log" "logged in as shuser by password" 2 10
fetch_blob b.out || fail "a fetch while the old session drains failed: $(cat "$T/b.out.err")"
kill -0 "$big" 2>/dev/null || fail "the download ended before the new fetch was checked"
ok "while the old session drains, the agent logs in again and a new fetch goes through"

wait "$big" || fail "the download on the draining session failed: $(cat "$T/big.err")"
[ "$(sha "$T/big.out")" = "$(sha "$T/www/big")" ] || fail "the download on the draining session: SHA-256 differs"
ok "the download under way on the draining session completed intact"
