#!/bin/bash
# [isp] via = socks5://: the isp reaches the esp through a real Dante
# sockd, where the firewall lets the inside reach only the proxy host.
# Without a login (the esp by address), with an RFC 1929 login (the esp by
# a name only the proxy can resolve), and with a wrong password, which
# must give a clear log line on the isp and no session.
. "$(dirname "$0")/../lib.sh"
. "$TESTS/via/common.sh"
need_root
DANTED=$(command -v danted || command -v sockd) ||
	skip "needs Dante's danted (Debian package dante-server)"
need_cmd openssl ss

via_common_setup "1080, 1081"

# dante_conf FILE PORT METHOD: a Dante configuration in $T.
dante_conf() {
	mkdir -p "$T/dtmp.$2"
	chmod 1777 "$T/dtmp.$2"
	cat >"$1" <<CONF
logoutput: stderr
internal: $PX4 port = $2
external: $PX4
clientmethod: none
socksmethod: $3
user.privileged: root
user.unprivileged: nobody
client pass {
	from: 192.0.2.0/24 to: 0.0.0.0/0
	log: connect error
}
socks pass {
	from: 192.0.2.0/24 to: 0.0.0.0/0
	command: connect
	log: connect error
}
CONF
}

dante_conf "$T/dante-none.conf" 1080 none
dante_conf "$T/dante-login.conf" 1081 username
TMPDIR=$T/dtmp.1080 in_proxy "$T/dante-none.log" \
	"$DANTED" -f "$T/dante-none.conf" -p "$T/dante-none.pid" -N 1
TMPDIR=$T/dtmp.1081 in_proxy "$T/dante-login.log" \
	"$DANTED" -f "$T/dante-login.conf" -p "$T/dante-login.pid" -N 1
wait_listen "$V_PX" 1080 "Dante (no login)"
wait_listen "$V_PX" 1081 "Dante (login)"

# 1. No login, the esp by address (SOCKS5 ATYP 1).
ISP_LOG=$T/isp-none.log
via_pair "socks5://$PX4:1080"
wait_for_log "$ISP_LOG" "session with .* up" 15
wait_for_log "$ESP_LOG" "isp \".*\" serves" 10
grep -q "$IN4" "$T/dante-none.log" ||
	fail "Dante logged no connection: the session did not go through it"
ok "socks5 without login: session up through Dante"
echo "  Dante: $(grep -m1 "$IN4" "$T/dante-none.log")"
fetch_check "socks5 without login"
isp_stop

# 2. Login, the esp by a name only the proxy resolves (ATYP 3).
ISP_LOG=$T/isp-login.log
via_pair "socks5://alice:s3cret@$PX4:1081" esp.test
wait_for_log "$ISP_LOG" "session with .* up" 15
wait_for_count "$ESP_LOG" "isp \".*\" serves" 2 10
grep -q "alice" "$T/dante-login.log" ||
	fail "Dante did not log the user alice"
ok "socks5 with login, esp by name: session up through Dante"
echo "  Dante: $(grep -m1 alice "$T/dante-login.log")"
fetch_check "socks5 with login"
isp_stop

# 3. A wrong password: a clear line, and no session.
ISP_LOG=$T/isp-wrong.log
via_pair "socks5://alice:wrong@$PX4:1081" esp.test
wait_for_log "$ISP_LOG" \
	"cannot connect to esp .*proxy $PX4:1081 refused the SOCKS5 login of user \"alice\"" 15
sleep 1
[ "$(count_log "$ISP_LOG" "session with .* up")" = 0 ] ||
	fail "a session came up with a wrong proxy password"
grep -q "alice:wrong" "$ISP_LOG" && fail "the isp logged the password"
ok "socks5 wrong password: $(grep -m1 -o 'proxy .*refused.*' "$ISP_LOG")"
isp_stop

# 4. No login where one is needed: a hint.
ISP_LOG=$T/isp-nologin.log
via_pair "socks5://$PX4:1081"
wait_for_log "$ISP_LOG" "accepts none of our SOCKS5 methods .*need user:pass@" 15
ok "socks5 missing login: $(grep -m1 -o 'proxy .*accepts.*' "$ISP_LOG")"
isp_stop
exit 0
