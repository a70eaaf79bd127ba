#!/bin/bash
# -t checks the config: exit 0, or exit 1 with a message naming the file,
# the key and the problem.
. "$(dirname "$0")/../lib.sh"

write_psk "$T/pair.psk"
ESP_ADDR=127.0.0.1 SOCKS_ADDR=127.0.0.1 SESSION_PORT=4430 SOCKS_PORT=1080
ALLOW="10.1.0.0/16:21,80 192.0.2.7/32:1-65535"
esp_conf "$T/esp.conf"
isp_conf "$T/isp.conf"

expect_ok() {
	local prog=$1 conf=$2
	"$BIN/$prog" -t -c "$conf" >"$T/out" 2>&1 || fail "$prog -t rejected a good config: $(cat "$T/out")"
	grep -q "configuration OK" "$T/out" || fail "$prog -t said: $(cat "$T/out")"
}
# expect_err PROG CONF MESSAGE: exit 1 and exactly this message.
expect_err() {
	local prog=$1 conf=$2 want=$3 rc
	"$BIN/$prog" -t -c "$conf" >"$T/out" 2>&1
	rc=$?
	[ $rc = 1 ] || fail "$prog -t exit $rc for: $want"
	[ "$(cat "$T/out")" = "$want" ] || fail "$prog -t said '$(cat "$T/out")', want '$want'"
	ok "$want"
}
edit() { sed "$2" "$T/$1" >"$T/bad.conf"; }

expect_ok esp "$T/esp.conf"
expect_ok isp "$T/isp.conf"
ok "good configs pass -t"

# Password hashes in a file everyone may read: -t passes, and warns.
{ cat "$T/isp.conf"; printf '[user alice]\npassword = %s\nallow = 10.1.0.0/16:21\n' "$(pwhash alice-pw)"; } >"$T/users.conf"
chmod 644 "$T/users.conf"
expect_ok isp "$T/users.conf"
grep -q "isp\[warn\]: $T/users.conf: readable by everyone (mode 644) and it holds password hashes, against which a reader can guess passwords offline: chmod 640 (and chown root:dynpass, so that the isp can read it again as its user)" "$T/out" ||
	fail "no warning for a world-readable isp.conf with hashes: $(cat "$T/out")"
chmod 640 "$T/users.conf"
expect_ok isp "$T/users.conf"
grep -q "readable by everyone" "$T/out" && fail "a warning for mode 640: $(cat "$T/out")"
ok "password hashes in a file everyone may read: -t warns, and says what to do; at 640 it does not"

expect_err esp "$T/none.conf" "esp: $T/none.conf: cannot open: No such file or directory"
edit esp.conf 's/^session_listen.*/session_listen = 127.0.0.1/'
expect_err esp "$T/bad.conf" "esp: $T/bad.conf: [esp] session_listen: \"127.0.0.1\" is not ADDRESS:PORT (IPv6 as [addr]:port)"
edit esp.conf 's/^socks_listen.*/socks_listen = example.net:1080/'
expect_err esp "$T/bad.conf" "esp: $T/bad.conf: [esp] socks_listen: \"example.net:1080\" needs a numeric address and a port 1-65535"
edit esp.conf 's/^keepalive.*/keepalive = soon/'
expect_err esp "$T/bad.conf" "esp: $T/bad.conf: [session] keepalive: \"soon\" is not a duration (e.g. 10s, 500ms, 2m)"
edit esp.conf 's/^\[esp\]/[esp]\nsocks_lisen = 1.2.3.4:5/'
expect_err esp "$T/bad.conf" "esp: $T/bad.conf: [esp] socks_lisen: unknown key"
edit esp.conf '/^session_listen/d'
expect_err esp "$T/bad.conf" "esp: $T/bad.conf: [esp] session_listen: missing (e.g. 0.0.0.0:4430)"
edit isp.conf 's#^allow =.*#allow = 10.0.0.0/33#'
expect_err isp "$T/bad.conf" "isp: $T/bad.conf: [isp] allow: \"10.0.0.0/33\" is not ADDRESS/PREFIX[:PORTS] or NAME[:PORTS] (e.g. 10.1.0.0/16:21,80, [2001:db8::]/32:22 or .corp.example:80)"
edit isp.conf 's#^allow =.*#allow = 10.0.0.0/8:0#'
expect_err isp "$T/bad.conf" "isp: $T/bad.conf: [isp] allow: \"10.0.0.0/8:0\" is not ADDRESS/PREFIX[:PORTS] or NAME[:PORTS] (e.g. 10.1.0.0/16:21,80, [2001:db8::]/32:22 or .corp.example:80)"
edit isp.conf '/^esp /d'
expect_err isp "$T/bad.conf" "isp: $T/bad.conf: [isp] esp: missing: the esp to dial, e.g. esp.example.net:4430"
edit isp.conf 's#^esp .*#esp = esp.example.net#'
expect_err isp "$T/bad.conf" "isp: $T/bad.conf: [isp] esp: \"esp.example.net\" is not HOST:PORT (IPv6 as [addr]:port)"
edit isp.conf "s#^\[isp\]#[isp]\nrules = $T/no-rules#"
expect_err isp "$T/bad.conf" "isp: $T/bad.conf: [isp] rules: $T/no-rules: No such file or directory"
printf '[isp\nesp = x:1\n' >"$T/bad.conf"
"$BIN/isp" -t -c "$T/bad.conf" >"$T/out" 2>&1 && fail "isp -t accepted a syntax error"
grep -q "^isp: $T/bad.conf: cannot parse: " "$T/out" || fail "syntax error message: $(cat "$T/out")"
ok "$(cat "$T/out")"

# A bad config stops the daemon at start too, with the same message.
edit isp.conf 's#^allow =.*#allow = 10.0.0.0/33#'
"$BIN/isp" -c "$T/bad.conf" >"$T/out" 2>&1
[ $? = 1 ] || fail "isp started with a bad config"
grep -q '\[isp\] allow: "10.0.0.0/33"' "$T/out" || fail "isp start message: $(cat "$T/out")"
ok "isp refuses to start with a bad config"

# The shipped examples pass -t (with a key put where they point).
for f in "$TOP"/etc/esp.conf "$TOP"/etc/isp.conf; do
	[ -f "$f" ] || fail "missing example $f"
	sed "s#^psk_file.*#psk_file = $T/pair.psk#; s#^rules.*##;
		s#^user  = dynpass#user  = nobody#; s#^group = dynpass#group = nogroup#" "$f" >"$T/ex.conf"
	prog=$(basename "$f" .conf)
	expect_ok "$prog" "$T/ex.conf"
done
ok "etc/ examples pass -t"

# The example's client door, switched on with a certificate of our own.
. "$TESTS/pki.sh"
pki_ca exca
pki_cert esp.example.net exca esp
sed "s#^psk_file.*#psk_file = $T/pair.psk#; s#^;client_listen#client_listen#;
	s#^user  = dynpass#user  = nobody#; s#^group = dynpass#group = nogroup#;
	s#^;\[client_tls\]#[client_tls]#; s#^;cert = .*#cert = $T/esp.example.net.crt#;
	s#^;key  = .*#key  = $T/esp.example.net.key#" "$TOP/etc/esp.conf" >"$T/door.conf"
grep -q "^client_listen" "$T/door.conf" && grep -q "^\[client_tls\]" "$T/door.conf" ||
	fail "the example's client door did not switch on"
expect_ok esp "$T/door.conf"
chmod 644 "$T/esp.example.net.key"
"$BIN/esp" -t -c "$T/door.conf" >"$T/out" 2>&1 && fail "a client door key readable by others passed -t"
grep -q "\[client_tls\] key: .* is accessible to group or others" "$T/out" ||
	fail "open key: $(cat "$T/out")"
sed '/^client_listen/d' "$T/door.conf" >"$T/halfdoor.conf"
"$BIN/esp" -t -c "$T/halfdoor.conf" >"$T/out" 2>&1 && fail "[client_tls] without client_listen passed -t"
grep -q "\[client_tls\] cert: set, but \[esp\] client_listen is not" "$T/out" ||
	fail "half a door: $(cat "$T/out")"
sed '/^socks_listen/d; /^client_listen/d; /^\[client_tls\]/d; /^cert = /d; /^key  = /d' \
	"$T/door.conf" >"$T/nodoor.conf"
"$BIN/esp" -t -c "$T/nodoor.conf" >"$T/out" 2>&1 && fail "an esp without a door passed -t"
grep -q "\[esp\] socks_listen: missing, and so is client_listen" "$T/out" ||
	fail "no door: $(cat "$T/out")"
ok "the client door: -t passes it, refuses an open key, [client_tls] alone, and an esp with no door"

# A password in the old scrypt$ form (values computed with Python's
# hashlib): -t passes it, warns, and prints the same password's new form.
{
	cat "$T/isp.conf"
	printf '[user alice]\npassword = %s\nallow = 10.1.0.0/16:21\n' \
		'scrypt$16384$8$1$AAECAwQFBgcICQoLDA0ODw==$JbN2hANm9NOw4h5BRHZnbjzQ6Jr0QwNWojTOC2WgIbU='
} >"$T/old.conf"
expect_ok isp "$T/old.conf"
grep -qF "$T/old.conf: [user alice] password: in the old scrypt\$ form, with which whoever reads this file could log in as the user through an agent; replace it with: password = scram\$16384\$8\$1\$AAECAwQFBgcICQoLDA0ODw==\$9yXSe6dJkqMRiAJC7GgER5R83qmFs0XprXsWhKQf2Fw=\$26NIqBP8w09jj0NcjHQzyd0bR/GE5nfHv0X6Jk9MaxE=" "$T/out" ||
	fail "no conversion line for the old form: $(cat "$T/out")"
ok "an old scrypt\$ password: -t warns and prints its scram\$ form"

# A cost client agents do not run (1 GiB): -t passes it, and says that the
# user can log in by SOCKS password only.
{
	cat "$T/isp.conf"
	printf '[user alice]\npassword = %s\nallow = 10.1.0.0/16:21\n' \
		'scram$1048576$8$1$AAECAwQFBgcICQoLDA0ODw==$9yXSe6dJkqMRiAJC7GgER5R83qmFs0XprXsWhKQf2Fw=$26NIqBP8w09jj0NcjHQzyd0bR/GE5nfHv0X6Jk9MaxE='
} >"$T/cost.conf"
expect_ok isp "$T/cost.conf"
grep -qF "$T/cost.conf: [user alice] password: its scrypt cost is not one client agents run (16 to 128 MiB, at most 4 passes): the user can log in by SOCKS password, not through an agent; \`isp -P\` makes one they run" "$T/out" ||
	fail "no line for a cost agents do not run: $(cat "$T/out")"
ok "a password of a cost agents do not run: -t says so"
