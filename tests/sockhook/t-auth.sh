#!/bin/bash
# Username/password (RFC 1929): with user set, sockhook offers methods
# 0x00 and 0x02 and follows the server's choice. A server that insists on
# a login gets it; a wrong password or no login is EACCES. The real esp,
# which may pick 0x00, still works with user set.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/common.sh"
need_cmd python3 curl
sh_pair
url=http://127.0.0.1:$HTTP_PORT/blob

bg_start "$T/socks5d.log" python3 "$(dirname "$0")/socks5d.py" alice 's3cret pass'
i=0
while [ $i -lt 100 ] && ! [ -s "$T/socks5d.log" ]; do sleep 0.1; i=$((i + 1)); done
FIX_PORT=$(head -1 "$T/socks5d.log")
[ -n "$FIX_PORT" ] || fail "the SOCKS5 fixture did not start"

printf 's3cret pass\n' >"$T/pass"
printf 'wrong\n' >"$T/wrong"
chmod 600 "$T/pass" "$T/wrong"
conf() { # conf FILE PORT [USER PASSFILE]
	printf '[sockhook]\nesp = 127.0.0.1:%s\nroute = 127.0.0.1/32:%s,%s\n' \
	    "$2" "$HTTP_PORT" "$CLOSED_PORT" >"$1"
	[ $# -lt 4 ] || printf 'user = %s\npassword_file = %s\n' "$3" "$4" >>"$1"
}
conf "$T/login.conf" "$FIX_PORT" alice "$T/pass"
conf "$T/wrong.conf" "$FIX_PORT" alice "$T/wrong"
conf "$T/none.conf" "$FIX_PORT"
conf "$T/esp.conf.sh" "$SOCKS_PORT" alice "$T/pass"

"$BIN/sockhook" -c "$T/login.conf" -- curl -sS -o "$T/login.out" "$url" ||
    fail "curl with a login failed"
[ "$(sha "$T/login.out")" = "$BLOB_SHA" ] || fail "login: SHA-256 differs"
grep -q "^methods 0002$" "$T/socks5d.log" || fail "did not offer 0x00 and 0x02: $(cat "$T/socks5d.log")"
grep -q "^login ok alice$" "$T/socks5d.log" || fail "no login: $(cat "$T/socks5d.log")"
ok "the server chose 0x02; login as alice; SHA-256 matches"

"$BIN/sockhook" -c "$T/login.conf" -- "$NB" poll 127.0.0.1 "$CLOSED_PORT" / 2>"$T/err" &&
    fail "refused port connected"
grep -q "errno=ECONNREFUSED" "$T/err" || fail "wanted ECONNREFUSED: $(cat "$T/err")"
for c in wrong none; do
	for mode in block poll; do
		expect_errno EACCES "$BIN/sockhook" -c "$T/$c.conf" -- "$NB" "$mode" \
		    127.0.0.1 "$HTTP_PORT" /
	done
done
grep -q "^login refused alice$" "$T/socks5d.log" || fail "wrong password not tried"
grep -q "^methods 00$" "$T/socks5d.log" || fail "without user, only 0x00 offered"
ok "wrong password and no login give EACCES"

before=$(esp_clients)
"$BIN/sockhook" -c "$T/esp.conf.sh" -- curl -sS -o "$T/esp.out" "$url" ||
    fail "curl with user set through the esp failed"
[ "$(sha "$T/esp.out")" = "$BLOB_SHA" ] || fail "esp with user: SHA-256 differs"
[ "$(esp_clients)" -gt "$before" ] || fail "did not use the esp"
ok "with user set, the real esp's choice is followed; SHA-256 matches"
