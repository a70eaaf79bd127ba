#!/bin/bash
# Several addresses per door: socks_listen = 127.0.0.1:P [::1]:P takes
# clients on both, each fetch intact; the metrics endpoint takes two as
# well. -t refuses an address listed twice, more than eight, an empty
# list and a metrics address that is a door's, word for word; a metrics
# address that is not loopback gets a warning.
. "$(dirname "$0")/../lib.sh"
need_cmd curl
ip -6 addr show dev lo 2>/dev/null | grep -q '::1' || skip "needs ::1 on lo"
mkdir "$T/www"
head -c 500000 /dev/urandom >"$T/www/f"
http_start "$T/www"
ALLOW="127.0.0.1/32:$HTTP_PORT"
SOCKS_PORT=$(free_port)
M1=$(free_port)
M2=$(free_port)
ESP_EXTRA="socks_listen = 127.0.0.1:$SOCKS_PORT [::1]:$SOCKS_PORT
[metrics]
listen = 127.0.0.1:$M1 [::1]:$M2
[esp]"
NO_SOCKS=1 pair_start
for a in 127.0.0.1 '[::1]'; do
	curl -sS --fail --max-time 20 --socks5 "$a:$SOCKS_PORT" -o "$T/got" \
		"http://127.0.0.1:$HTTP_PORT/f" || fail "curl through $a:$SOCKS_PORT"
	[ "$(sha "$T/got")" = "$(sha "$T/www/f")" ] || fail "$a: SHA-256 differs"
	ok "SOCKS door on $a:$SOCKS_PORT: intact"
done
curl -sf -o /dev/null "http://127.0.0.1:$M1/metrics" || fail "metrics on 127.0.0.1:$M1"
curl -sf -o /dev/null "http://[::1]:$M2/metrics" || fail "metrics on [::1]:$M2"
ok "metrics on 127.0.0.1:$M1 and [::1]:$M2"

refuse() { # FILE MESSAGE
	local rc
	"$BIN/esp" -t -c "$1" >"$T/out" 2>&1
	rc=$?
	[ $rc = 1 ] || fail "esp -t exit $rc for: $2 ($(cat "$T/out"))"
	[ "$(cat "$T/out")" = "esp: $2" ] || fail "esp -t said '$(cat "$T/out")', want 'esp: $2'"
	ok "esp: $2"
}
sed "s/^socks_listen = .*/socks_listen = 127.0.0.1:1080 127.0.0.1:1080/" "$T/esp.conf" >"$T/twice.conf"
refuse "$T/twice.conf" "$T/twice.conf: [esp] socks_listen: \"127.0.0.1:1080\" is listed twice"
sed "s/^socks_listen = .*/socks_listen = $(for p in 1 2 3 4 5 6 7 8 9; do printf '127.0.0.1:10%s ' $p; done)/" \
	"$T/esp.conf" >"$T/nine.conf"
refuse "$T/nine.conf" "$T/nine.conf: [esp] socks_listen: more than 8 addresses"
sed "s/^listen = .*/listen = 127.0.0.1:$SOCKS_PORT/" "$T/esp.conf" >"$T/clash.conf"
refuse "$T/clash.conf" "$T/clash.conf: [metrics] listen: 127.0.0.1:$SOCKS_PORT is another door's address and port already"
sed "s/^listen = .*/listen = 127.0.0.1/" "$T/esp.conf" >"$T/noport.conf"
refuse "$T/noport.conf" "$T/noport.conf: [metrics] listen: \"127.0.0.1\" is not ADDRESS:PORT (IPv6 as [addr]:port)"
sed "s/^listen = .*/listen = 0.0.0.0:9430/" "$T/esp.conf" >"$T/open.conf"
"$BIN/esp" -t -c "$T/open.conf" >"$T/out" 2>&1 || fail "esp -t: $(cat "$T/out")"
grep -qx "esp: $T/open.conf: warning: \[metrics\] listen = 0.0.0.0:9430 is not loopback only: whoever reaches it sees user names and traffic figures" \
	"$T/out" || fail "no warning for metrics on 0.0.0.0: $(cat "$T/out")"
ok "metrics on 0.0.0.0: $(head -1 "$T/out")"
