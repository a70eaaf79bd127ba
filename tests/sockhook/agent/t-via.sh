#!/bin/bash
# [sockhook] via: the agent reaches the esp's client door through a real
# tinyproxy (HTTP CONNECT), as the isp does with [isp] via. The proxy's
# log shows the tunnel to the door, and a proxy that refuses the port
# gives a clear line in the agent's log and no session.
. "$(dirname "$0")/../../lib.sh"
SH_MODE=agent
. "$(dirname "$0")/../common.sh"
need_cmd curl tinyproxy
sh_pair
TP=$(free_port)
cat >"$T/tp.conf" <<CONF
User nobody
Group nogroup
Port $TP
Listen 127.0.0.1
Timeout 60
MaxClients 20
LogLevel Connect
PidFile "$T/tinyproxy.pid"
Allow 127.0.0.1
ConnectPort $CLIENT_PORT
DisableViaHeader Yes
CONF
chmod 755 "$T"
bg_start "$T/tinyproxy.log" tinyproxy -d -c "$T/tp.conf"
i=0
while ! ss -ltn | grep -q "127.0.0.1:$TP " && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
SH_EXTRA="via = http://127.0.0.1:$TP" sh_conf "$T/sockhook.conf"
hooked curl -sS -o "$T/a.out" "http://127.0.0.1:$HTTP_PORT/blob" ||
	fail "curl through the agent via the proxy failed"
[ "$(sha "$T/a.out")" = "$BLOB_SHA" ] || fail "SHA-256 differs"
grep -q "CONNECT.*127.0.0.1:$CLIENT_PORT" "$T/tinyproxy.log" ||
	fail "the proxy did not carry the agent's session: $(tail -5 "$T/tinyproxy.log")"
ok "the agent reached the esp through tinyproxy (HTTP CONNECT); SHA-256 matches"

# A proxy that will not connect to that port: no session, a clear line.
cat >"$T/sock2.conf" <<CONF
[sockhook]
$(sh_door | sed "s/:$CLIENT_PORT/:$HTTP_PORT/")
route = 127.0.0.1/32
via = http://127.0.0.1:$TP
CONF
"$BIN/sockhook" agent -c "$T/sock2.conf" >"$T/refused.log" 2>&1 &
_PIDS="$_PIDS $!"
wait_for_log "$T/refused.log" "cannot connect to 127.0.0.1:$HTTP_PORT: .*proxy" 15
ok "a proxy that refuses: $(grep -m1 'cannot connect' "$T/refused.log" | sed 's/^.*warn\]: //')"
