#!/bin/bash
# -T prints the effective configuration, as sshd -T does: what the file
# sets, then every default the program used in its place. The output is
# itself a configuration that -t accepts and that -T prints the same
# way; passwords are not shown; a broken file gets -t's error and no
# output on standard output.
. "$(dirname "$0")/../lib.sh"
write_psk "$T/pair.psk"
ESP_ADDR=127.0.0.1 SOCKS_ADDR=127.0.0.1 SESSION_PORT=4430 SOCKS_PORT=1080
KEEPALIVE=3s
esp_conf "$T/esp.conf"
ALLOW="10.1.0.0/16:21"
ISP_EXTRA="rules = $TOP/rules"
isp_conf "$T/isp.conf"

for p in esp isp; do
	"$BIN/$p" -T -c "$T/$p.conf" >"$T/$p.dump" 2>"$T/err" || fail "$p -T: $(cat "$T/err")"
	[ -s "$T/err" ] && fail "$p -T wrote to standard error: $(cat "$T/err")"
	cat "$T/$p.dump"
	# the file's own values, as written, and defaults it did not set
	grep -qx "keepalive = 3s" "$T/$p.dump" || fail "$p -T: keepalive as set"
	grep -qx "dead_after = 6s" "$T/$p.dump" || fail "$p -T: dead_after as set"
	grep -qx "window = 16M" "$T/$p.dump" || fail "$p -T: default window"
	grep -qx "handshake_timeout = 10s" "$T/$p.dump" || fail "$p -T: default handshake_timeout"
	grep -qx "audit_format = logfmt" "$T/$p.dump" || fail "$p -T: default audit_format"
	# round trip: the dump is a configuration, and dumps to itself
	"$BIN/$p" -t -c "$T/$p.dump" >"$T/out" 2>&1 || fail "$p -t on its own -T: $(cat "$T/out")"
	"$BIN/$p" -T -c "$T/$p.dump" | sed 1d >"$T/$p.dump2"
	sed 1d "$T/$p.dump" | diff - "$T/$p.dump2" || fail "$p: -T of the -T output differs"
	ok "$p -T: set values, defaults, and a round trip through -t"
done
grep -qx "socks_timeout = 10s" "$T/esp.dump" || fail "esp -T: default socks_timeout"
grep -qx "connect_timeout = 10s" "$T/isp.dump" || fail "isp -T: default connect_timeout"
grep -qx "holdback = 4K" "$T/isp.dump" || fail "isp -T: default holdback"

# A user's password is not shown.
hash=$(pwhash pw)
case $hash in scram\$*) ;; *) fail "isp -P made no scram\$ hash: $hash" ;; esac
{ cat "$T/isp.conf"; printf '[user alice]\npassword = %s\nallow = 10.1.0.0/16:21\n' "$hash"; } >"$T/user.conf"
"$BIN/isp" -T -c "$T/user.conf" >"$T/user.dump" || fail "isp -T with a user"
grep -qx "password = (set, not shown)" "$T/user.dump" || fail "isp -T: the password line"
# Neither the hash, nor any of its fields (salt, StoredKey, ServerKey).
grep -qF "$hash" "$T/user.dump" && fail "isp -T printed the password hash"
for part in $(echo "${hash#scram\$}" | tr '$' ' '); do
	[ "${#part}" -ge 16 ] || continue
	grep -qF "$part" "$T/user.dump" && fail "isp -T printed part of the password hash: $part"
done
grep -q 'scram\$\|scrypt\$' "$T/user.dump" && fail "isp -T printed a password hash"
ok "isp -T: password = (set, not shown)"

# A proxy's password in via: the user part shows, the password does not.
sed 's/^\[isp\]$/[isp]\nvia = http:\/\/proxyuser:Pr0xySecret@127.0.0.1:3128/' "$T/isp.conf" >"$T/via.conf"
grep -q "^via = " "$T/via.conf" || fail "no via line in the test config"
"$BIN/isp" -T -c "$T/via.conf" >"$T/via.dump" 2>&1 || fail "isp -T with via: $(cat "$T/via.dump")"
grep -q "Pr0xySecret" "$T/via.dump" && fail "isp -T printed the proxy's password"
grep -qx "via = http://proxyuser:\*\*\*\*@127.0.0.1:3128" "$T/via.dump" ||
	fail "isp -T: the via line: $(grep via "$T/via.dump")"
ok "isp -T: via = http://proxyuser:****@127.0.0.1:3128"

# A broken file: -t's message, nothing on standard output.
sed 's/^keepalive *=.*/keepalive = soon/' "$T/esp.conf" >"$T/bad.conf"
"$BIN/esp" -T -c "$T/bad.conf" >"$T/out" 2>"$T/err" && fail "esp -T accepted a bad file"
[ -s "$T/out" ] && fail "esp -T printed a configuration for a bad file"
[ "$(cat "$T/err")" = "esp: $T/bad.conf: [session] keepalive: \"soon\" is not a duration (e.g. 10s, 500ms, 2m)" ] ||
	fail "esp -T error: $(cat "$T/err")"
ok "esp -T on a bad file: $(cat "$T/err")"
