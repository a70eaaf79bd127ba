#!/bin/bash
# Reverse openings are capped per user and per session, not only per
# control connection: with reverse_per_user = 5 and reverse_per_session =
# 13, two control connections of alice sending 6 PORTs each get 5
# openings between them; two anonymous ones from one address likewise
# share that address's 5; then bob gets the 3 the session has left.
# Every PORT past a cap reaches the server as port 0, and the isp says
# which cap.
. "$(dirname "$0")/../lib.sh"
SRV="python3 $TESTS/tools/linesrv.py"
CTL="python3 $TESTS/tools/ctlclient.py"

FTP_PORT=$(free_port)
mkdir -p "$T/rules"
sed -E "s/^(ports *= *).*/\1$FTP_PORT/" "$TOP/rules/ftp.ini" >"$T/rules/ftp.ini"
bg_start "$T/ftp-srv.out" $SRV "$FTP_PORT" "$T/ftp.log"
wait_for_log "$T/ftp-srv.out" listening 10
ALLOW="127.0.0.1/32:$FTP_PORT"
ISP_EXTRA="rules = $T/rules
reverse_per_channel = 100
reverse_per_user = 5
reverse_per_session = 13
listen_timeout = 60s"
ESP_EXTRA="outside_own_addresses = yes"
ISP_SECTIONS="
[policy]
anonymous = yes
[user alice]
password = $(pwhash alice-secret)
allow = 127.0.0.1/32:$FTP_PORT
[user bob]
password = $(pwhash bob-secret)
allow = 127.0.0.1/32:$FTP_PORT
"
pair_start

# ports WHO N...: control connections at once (WHO: a login or "-"), each
# sending N PORTs; then how many the server saw, and how many as port 0.
ports() {
	local who=$1 n pids="" k=0
	shift
	: >"$T/ftp.log"
	for n in "$@"; do
		k=$((k + 1))
		if [ "$who" = - ]; then
			$CTL "$SOCKS_PORT" "$FTP_PORT" ports "$n" >"$T/ctl-$k.out" 2>&1 &
		else
			$CTL "$SOCKS_PORT" "$FTP_PORT" "$who" ports "$n" >"$T/ctl-$k.out" 2>&1 &
		fi
		pids="$pids $!"
	done
	# shellcheck disable=SC2086
	wait $pids
	echo "$(grep -c "b'PORT" "$T/ftp.log") $(grep -cF "b'PORT 127,0,0,1,0,0\\r\\n'" "$T/ftp.log")"
}

set -- $(ports alice:alice-secret 6 6)
[ "$1" = 12 ] || fail "alice: the server got $1 PORTs, want 12"
[ $(($1 - $2)) = 5 ] || fail "alice: $(($1 - $2)) openings of 12 PORTs, want 5 (reverse_per_user)"
grep -q "too many reverse openings for this user (\[isp\] reverse_per_user)" "$ISP_LOG" ||
	fail "no log line for reverse_per_user"
ok "alice's two control connections: 12 PORTs, 5 openings (reverse_per_user = 5), 7 as port 0"

set -- $(ports - 6 6)
[ "$1" = 12 ] || fail "anonymous: the server got $1 PORTs, want 12"
[ $(($1 - $2)) = 5 ] || fail "anonymous: $(($1 - $2)) openings of 12 PORTs, want 5 (one address's reverse_per_user)"
ok "two anonymous control connections from one address: 5 openings between them, 7 as port 0"

set -- $(ports bob:bob-secret 6)
[ "$1" = 6 ] || fail "bob: the server got $1 PORTs, want 6"
[ $(($1 - $2)) = 3 ] || fail "bob: $(($1 - $2)) openings of 6 PORTs, want 3 (13 per session, 10 used)"
grep -q "too many reverse openings on this session (\[isp\] reverse_per_session)" "$ISP_LOG" ||
	fail "no log line for reverse_per_session"
ok "bob: 3 openings, what the session had left of 13 (reverse_per_session)"
