#!/bin/bash
# Places at the esp's client door are bounded, and a login cannot hold
# one forever. Agents that finish TLS and HELLO and then sit there count
# against [esp] max_agents and max_agents_per_source; the rest are closed
# at once with a clear line. An agent that sends the first step of a
# login and never the second (each such login holds one of the two slots
# [esp] login_inflight_per_source gives its address) has its session
# ended after [esp] agent_login_timeout, and its address can log in
# again. Before, two stalled logins locked their address out for good,
# and 32 addresses every agent. One agent holds at most
# [esp] max_channels_per_agent connections, so that it cannot take every
# channel of an isp's session.
. "$(dirname "$0")/../../lib.sh"
SH_MODE=agent
. "$(dirname "$0")/../common.sh"
need_cmd curl
FLOOD=$TOP/build/tests/sockhook/agentflood
[ -x "$FLOOD" ] || fail "$FLOOD is not built (make tests)"
sh_pair
sed -i "s|^client_listen = .*|&\nmax_agents = 8\nmax_agents_per_source = 5\nagent_login_timeout = 3s\nmax_channels_per_agent = 20\nmax_connections_per_source = 30|" "$T/esp.conf"
kill "$ESP_PID"
wait "$ESP_PID" 2>/dev/null
esp_start
wait_for_log "$ISP_LOG" "session with .* up" 15
wait_for_log "$ESP_LOG" "isp \".*\" serves" 15
fdcount() { ls "/proc/$1/fd" | wc -l; }
base=$(fdcount "$ESP_PID")

# A: 10 agents from 127.0.0.1 (5 fit), then 10 from 127.0.0.2 (3 fit).
"$FLOOD" "$T/agentca.crt" "$CLIENT_PORT" 127.0.0.1 10 8 >"$T/a1.log" 2>&1 &
a1=$!
wait_for_count "$T/a1.log" "^(up|refused)$" 10 10
[ "$(count_log "$T/a1.log" "^up$")" = 5 ] || fail "127.0.0.1: $(sort "$T/a1.log" | uniq -c | tr '\n' ' '), want 5 up"
grep -q "agent from 127.0.0.1:[0-9]* refused: 5 agents from that address (\[esp\] max_agents_per_source)" "$ESP_LOG" ||
	fail "the esp did not say why it refused the sixth agent from 127.0.0.1"
sleep 1.1 # one line a second for these refusals
"$FLOOD" "$T/agentca.crt" "$CLIENT_PORT" 127.0.0.2 10 6 >"$T/a2.log" 2>&1 &
a2=$!
wait_for_count "$T/a2.log" "^(up|refused)$" 10 10
[ "$(count_log "$T/a2.log" "^up$")" = 3 ] || fail "127.0.0.2: $(sort "$T/a2.log" | uniq -c | tr '\n' ' '), want 3 up"
grep -q "agent from 127.0.0.2:[0-9]* refused: 8 agents connected (\[esp\] max_agents)" "$ESP_LOG" ||
	fail "the esp did not say why it refused the ninth agent"
n=$(fdcount "$ESP_PID")
[ "$n" -le $((base + 8)) ] || fail "the esp holds $n descriptors (from $base) for 8 agents"
ok "20 idle agents: 5 from one address, 8 in all are held ($n fds, from $base); the rest refused with the limit named"
wait $a1 $a2
sleep 0.5
n=$(fdcount "$ESP_PID")
[ "$n" -le $((base + 1)) ] || fail "the esp holds $n descriptors (from $base) after the agents left"

# B: two logins from 127.0.0.3 stop after the first step.
"$FLOOD" "$T/agentca.crt" "$CLIENT_PORT" 127.0.0.3 2 8 shuser >"$T/b1.log" 2>&1 &
b1=$!
wait_for_count "$T/b1.log" "^continue$" 2 10
"$FLOOD" "$T/agentca.crt" "$CLIENT_PORT" 127.0.0.3 1 1 shuser >"$T/b2.log" 2>&1
grep -qx busy "$T/b2.log" || fail "a third login from 127.0.0.3 beside two stalled ones: $(cat "$T/b2.log"), want busy"
wait_for_count "$T/b1.log" "peer says goodbye: timeout: the login took longer than 3.000 s \(\[esp\] agent_login_timeout\)" 2 8
wait_for_count "$T/b1.log" "^closed: " 2 2
wait_for_count "$ESP_LOG" "session with 127.0.0.3:[0-9]* failed: the login took longer than 3.000 s \(\[esp\] agent_login_timeout\)" 2 2
"$FLOOD" "$T/agentca.crt" "$CLIENT_PORT" 127.0.0.3 1 1 shuser >"$T/b3.log" 2>&1
grep -qx continue "$T/b3.log" || fail "a login from 127.0.0.3 after the stalled ones were closed: $(cat "$T/b3.log"), want continue"
ok "two logins stalled after the first step: a third is told busy; after 3 s both sessions end and the address logs in again"
wait $b1

# D: an anonymous agent asks for 5000 connections the esp refuses. Each
# costs the agent one frame: the esp logs and audits 50 a second and
# counts the rest; the isps are told of at most 25 a second (half what an
# isp takes), so the flood cannot fill the sessions' queues.
isp_mark=$(wc -l <"$ISP_LOG")
t0=$(date +%s)
AGENTFLOOD_OPENS=5000 "$FLOOD" "$T/agentca.crt" "$CLIENT_PORT" 127.0.0.4 1 30 >"$T/d.log" 2>&1 &
d=$!
wait_for_log "$T/d.log" "^opens: " 30
grep -qx "opens: 5000 refused, 0 other" "$T/d.log" || fail "flood: $(grep opens "$T/d.log")"
most=$((25 * ($(date +%s) - t0 + 2))) # 25 in each second the flood touched
kill $d 2>/dev/null
sleep 1.2
# The isp audits each reported refusal when its NOTICE arrives.
wait_for_count "$ESP_LOG" 'audit .*event=refusal side=esp .*client=127\.0\.0\.1:4000 .*end="not a host name"' 50 10
wait_for_count "$ISP_LOG" 'audit .*event=refusal side=esp .*client=127\.0\.0\.1:4000 .*end="not a host name"' 25 10
esp_n=$(count_log "$ESP_LOG" 'audit .*event=refusal side=esp .*client=127.0.0.1:4000 .*end="not a host name"')
isp_n=$(count_log "$ISP_LOG" 'audit .*event=refusal side=esp .*client=127.0.0.1:4000 .*end="not a host name"')
esp_most=$((50 * ($(date +%s) - t0 + 2)))
[ "$esp_n" -ge 50 ] && [ "$esp_n" -le "$esp_most" ] || fail "the esp audited $esp_n of 5000 refusals (50 a second: at most $esp_most)"
grep -q "more than 50 agent connections refused a second: the rest are counted (dynpass_refusals_total), not logged or audited" "$ESP_LOG" ||
	fail "the esp did not say it counted the rest"
[ "$isp_n" -ge 25 ] && [ "$isp_n" -le "$most" ] || fail "the isp audited $isp_n reported refusals (at most $most)"
grep -q "more than 25 refusals a second: the isps are told of 25 a second; this esp's audit and metrics have the rest" "$ESP_LOG" ||
	fail "the esp did not say it held refusals back"
grep -q "reports more than 50 refusals a second" "$ISP_LOG" && fail "the esp sent the isp more than 50 a second"
tail -n +$((isp_mark + 1)) "$ISP_LOG" | grep "session with .* closed\|GOAWAY" && fail "the isp's session ended"
ok "5000 refused requests from one agent: the esp audits $esp_n (50 a second), the isp $isp_n (the esp sends 25 a second), and the session stays up"

# E: one agent's program holds 25 connections: 20 are taken.
hooked python3 - "$HTTP_PORT" >"$T/e.log" 2>&1 <<'PY'
import socket, sys
ok, failed, socks = 0, 0, []
for _ in range(25):
    try:
        socks.append(socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10))
        ok += 1
    except OSError as e:
        failed += 1
        err = e
print("ok %d failed %d" % (ok, failed), flush=True)
PY
grep -qx "ok 20 failed 5" "$T/e.log" || fail "25 connections through one agent at a limit of 20: $(cat "$T/e.log")"
[ "$(count_log "$ESP_LOG" 'refused: too many connections from this agent \(\[esp\] max_channels_per_agent\)|-> 127.0.0.1:[0-9]+: too many connections from this agent \(\[esp\] max_channels_per_agent\)')" = 5 ] ||
	fail "the esp did not name the limit 5 times: $(grep 'too many conn' "$ESP_LOG")"
ok "25 connections from one agent at max_channels_per_agent = 20: 20 taken, 5 refused with the limit named"

# F: two agents from one address share max_connections_per_source (30
# here) with each other (and with SOCKS clients there): while one holds
# 20 connections, the other gets 10 of 15.
cp "$T/sockhook.conf" "$T/sockhook2.conf"
cat >"$T/hold.py" <<'PY'
import socket, sys, time
ok, failed, socks = 0, 0, []
for _ in range(int(sys.argv[2])):
    try:
        socks.append(socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10))
        ok += 1
    except OSError:
        failed += 1
print("ok %d failed %d" % (ok, failed), flush=True)
time.sleep(float(sys.argv[3]))
PY
hooked python3 "$T/hold.py" "$HTTP_PORT" 20 8 >"$T/f1.log" 2>&1 &
f1=$!
wait_for_log "$T/f1.log" "^ok " 20
grep -qx "ok 20 failed 0" "$T/f1.log" || fail "the first agent's 20: $(cat "$T/f1.log")"
"$BIN/sockhook" -c "$T/sockhook2.conf" -- python3 "$T/hold.py" "$HTTP_PORT" 15 0 >"$T/f2.log" 2>&1
grep -qx "ok 10 failed 5" "$T/f2.log" || fail "the second agent's 15 at 30 from the address: $(cat "$T/f2.log")"
[ "$(count_log "$ESP_LOG" 'esp\[info\]: agent [0-9.:]+ -> 127.0.0.1:[0-9]+: too many connections from this address \(\[esp\] max_connections_per_source\)')" = 5 ] ||
	fail "the esp did not name the limit 5 times: $(grep 'from this address' "$ESP_LOG")"
wait $f1
ok "two agents from one address at max_connections_per_source = 30: 20 and 10 taken, 5 refused with the limit named"

# C: an agent that did log in keeps its session past the timeout.
hooked sh -c "sleep 4; curl -sS --fail --max-time 20 -o $T/out http://127.0.0.1:$HTTP_PORT/blob" ||
	fail "a fetch 4 s into a logged-in session failed: $(tail -3 "$XDG_RUNTIME_DIR"/dynpass/*.log)"
[ "$(sha "$T/out")" = "$BLOB_SHA" ] || fail "blob: SHA-256 differs"
grep -q "user shuser logged in by password" "$ESP_LOG" || fail "the agent did not log in"
ok "a logged-in agent's session outlives agent_login_timeout: 1 MiB fetched after 4 s, intact"
