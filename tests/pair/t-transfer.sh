#!/bin/bash
# Bodies of 0 B, 1 B, 64 KiB and 100 MiB through the SOCKS door with real
# curl, by IPv4, IPv6 and name (resolved inside by the isp), checked by
# SHA-256.
. "$(dirname "$0")/../lib.sh"

mkdir -p "$T/www"
: >"$T/www/zero"
printf 'x' >"$T/www/one"
head -c 65536 /dev/urandom >"$T/www/k64"
head -c $((100 * 1024 * 1024)) /dev/urandom >"$T/www/m100"

http_start "$T/www"
ALLOW="127.0.0.1/32:$HTTP_PORT"
pair_start

for f in zero one k64 m100; do
	rm -f "$T/out"
	curl -sS --fail --max-time 120 --socks5-hostname "127.0.0.1:$SOCKS_PORT" \
		-o "$T/out" "http://127.0.0.1:$HTTP_PORT/$f" || fail "curl $f: exit $?"
	[ "$(sha "$T/out")" = "$(sha "$T/www/$f")" ] || fail "$f: SHA-256 differs"
	ok "$f ($(stat -c %s "$T/www/$f") bytes) intact"
done

# By name: "localhost" is resolved by the isp, not by curl or the esp.
rm -f "$T/out"
curl -sS --fail --max-time 60 --socks5-hostname "127.0.0.1:$SOCKS_PORT" \
	-o "$T/out" "http://localhost:$HTTP_PORT/k64" || fail "curl by name: exit $?"
[ "$(sha "$T/out")" = "$(sha "$T/www/k64")" ] || fail "by name: SHA-256 differs"
grep -q -- "-> localhost:$HTTP_PORT" "$ISP_LOG" || fail "isp did not see the name"
ok "name resolved inside"

# IPv6 destination (needs ::1 on loopback).
if python3 -c 'import socket; s=socket.socket(socket.AF_INET6); s.bind(("::1",0))' 2>/dev/null; then
	kill "$HTTP_PID"
	http_start "$T/www" ::1
	kill "$ISP_PID"
	sleep 0.3
	ALLOW="[::1]/128:$HTTP_PORT"
	isp_conf "$T/isp.conf"
	ISP_LOG=$T/isp2.log
	isp_start
	wait_for_log "$ISP_LOG" "session with .* up" 15
	sleep 0.3
	rm -f "$T/out"
	curl -sS --fail --max-time 60 --socks5-hostname "127.0.0.1:$SOCKS_PORT" \
		-o "$T/out" "http://[::1]:$HTTP_PORT/k64" || fail "curl IPv6: exit $?"
	[ "$(sha "$T/out")" = "$(sha "$T/www/k64")" ] || fail "IPv6: SHA-256 differs"
	ok "IPv6 destination intact"
else
	echo "note: no ::1 on this host; IPv6 destination not tried"
fi
