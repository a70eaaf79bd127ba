#!/bin/bash
# [isp] via = http://: the isp reaches the esp through a real tinyproxy
# doing HTTP CONNECT, where the firewall lets the inside reach only the
# proxy host. Without a login, with basic auth (the esp by a name only the
# proxy can resolve), with a wrong password (a clear log line on the isp,
# no session), and a port the proxy refuses.
. "$(dirname "$0")/../lib.sh"
. "$TESTS/via/common.sh"
need_root
need_cmd tinyproxy ss openssl

via_common_setup "8888, 8889"

# tinyproxy_conf FILE PORT CONNECTPORT [BASICAUTH]: a config in $T.
tinyproxy_conf() {
	cat >"$1" <<CONF
User nobody
Group nogroup
Port $2
Listen $PX4
Timeout 60
MaxClients 20
LogLevel Connect
PidFile "$T/tinyproxy.$2.pid"
Allow 192.0.2.0/24
ConnectPort $3
DisableViaHeader Yes
${4:+BasicAuth $4}
CONF
}

tinyproxy_conf "$T/tp-open.conf" 8888 "$SESSION_PORT"
tinyproxy_conf "$T/tp-auth.conf" 8889 "$SESSION_PORT" "alice s3cret"
in_proxy "$T/tinyproxy-open.log" tinyproxy -d -c "$T/tp-open.conf"
TP_OPEN_PID=$BG_PID
in_proxy "$T/tinyproxy-auth.log" tinyproxy -d -c "$T/tp-auth.conf"
wait_listen "$V_PX" 8888 "tinyproxy (open)"
wait_listen "$V_PX" 8889 "tinyproxy (basic auth)"

# 1. No login, the esp by address.
ISP_LOG=$T/isp-open.log
via_pair "http://$PX4:8888"
wait_for_log "$ISP_LOG" "session with .* up" 15
wait_for_log "$ESP_LOG" "isp \".*\" serves" 10
grep -q "CONNECT $OUT4:$SESSION_PORT" "$T/tinyproxy-open.log" ||
	fail "tinyproxy logged no CONNECT: the session did not go through it"
ok "http without login: session up through tinyproxy"
echo "  tinyproxy: $(grep -m1 "CONNECT $OUT4" "$T/tinyproxy-open.log")"
fetch_check "http without login"
isp_stop

# 2. Basic auth, the esp by a name only the proxy resolves.
ISP_LOG=$T/isp-auth.log
via_pair "http://alice:s3cret@$PX4:8889/" esp.test
wait_for_log "$ISP_LOG" "session with .* up" 15
wait_for_count "$ESP_LOG" "isp \".*\" serves" 2 10
grep -q "Established connection to host \"esp.test\"" "$T/tinyproxy-auth.log" ||
	fail "tinyproxy did not log the CONNECT to esp.test"
ok "http with basic auth, esp by name: session up through tinyproxy"
echo "  tinyproxy: $(grep -m1 "esp.test" "$T/tinyproxy-auth.log")"
fetch_check "http with basic auth"
isp_stop

# 3. A wrong password: a clear line, and no session.
ISP_LOG=$T/isp-wrong.log
via_pair "http://alice:wrong@$PX4:8889" esp.test
wait_for_log "$ISP_LOG" \
	"cannot connect to esp .*proxy $PX4:8889 answered \"HTTP/1.[01] 40[17] " 15
sleep 1
[ "$(count_log "$ISP_LOG" "session with .* up")" = 0 ] ||
	fail "a session came up with a wrong proxy password"
grep -q "alice:wrong" "$ISP_LOG" && fail "the isp logged the password"
ok "http wrong password: $(grep -m1 -o 'proxy .*40[17].*' "$ISP_LOG")"
isp_stop

# 4. No login where one is needed: a hint.
ISP_LOG=$T/isp-nologin.log
via_pair "http://$PX4:8889" esp.test
wait_for_log "$ISP_LOG" "answered \"HTTP/1.[01] 40[17] .*\" \(it needs user:pass@ in via\)" 15
ok "http missing login: $(grep -m1 -o 'proxy .*40[17].*' "$ISP_LOG")"
isp_stop

# 5. A port the proxy does not allow for CONNECT: its refusal, verbatim.
tinyproxy_conf "$T/tp-port.conf" 8888 443
kill "$TP_OPEN_PID"
wait "$TP_OPEN_PID" 2>/dev/null
for i in $(seq 50); do
	ip netns exec "$V_PX" ss -Hltn "sport = :8888" | grep -q . || break
	sleep 0.1
done
in_proxy "$T/tinyproxy-port.log" tinyproxy -d -c "$T/tp-port.conf"
wait_listen "$V_PX" 8888 "tinyproxy (port 443 only)"
ISP_LOG=$T/isp-port.log
via_pair "http://$PX4:8888"
wait_for_log "$ISP_LOG" "proxy $PX4:8888 answered \"HTTP/1.[01] 403 " 15
ok "http refused port: $(grep -m1 -o 'proxy .*403.*' "$ISP_LOG")"
isp_stop
exit 0
