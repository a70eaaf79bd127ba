#!/bin/bash
# An agent's configuration: sockhook -t checks it as the agent would read
# it (the password file, the CA, a certificate and its key), and every
# mistake gets one line naming the file, the key and the problem. The
# shipped example passes once its paths exist.
. "$(dirname "$0")/../../lib.sh"
. "$TESTS/pki.sh"
[ -x "$BIN/sockhook" ] || fail "$BIN/sockhook is not built"
export XDG_RUNTIME_DIR=$T/run
mkdir -m 700 "$XDG_RUNTIME_DIR"
pki_ca ca
pki_cert alice ca isp
(umask 077; echo secret >"$T/pass")

# check NAME BODY WANT: sockhook -t on a [sockhook] section; WANT is the
# one line expected ("OK" for success).
check() {
	printf '[sockhook]\n%b' "$2" >"$T/$1.conf"
	if [ "$3" = OK ]; then
		"$BIN/sockhook" -t -c "$T/$1.conf" >"$T/out" 2>&1 ||
			fail "$1: -t refused a good file: $(cat "$T/out")"
		grep -qx "sockhook: $T/$1.conf: configuration OK" "$T/out" ||
			fail "$1: $(cat "$T/out")"
		return
	fi
	if "$BIN/sockhook" -t -c "$T/$1.conf" >"$T/out" 2>&1; then
		fail "$1: -t accepted it"
	fi
	[ "$(wc -l <"$T/out")" = 1 ] || fail "$1: more than one line: $(cat "$T/out")"
	grep -qxF "sockhook: $T/$1.conf: $3" "$T/out" || fail "$1: wanted \"$3\", got: $(cat "$T/out")"
	ok "$1: $(cat "$T/out")"
}
base="agent = 127.0.0.1:4431\nroute = 10.0.0.0/8\n"
check good "${base}ca = $T/ca.crt\nuser = alice\npassword_file = $T/pass\n" OK
check cert "${base}ca = $T/ca.crt\ncert = $T/alice.crt\nkey = $T/alice.key\n" OK
check both "${base}esp = 127.0.0.1:1080\nca = $T/ca.crt\n" \
	"[sockhook] agent: set together with esp: choose the SOCKS door (esp =) or an agent (agent =)"
check noca "$base" "[sockhook] ca: missing: the CA the esp's certificate must chain to"
check nokey "${base}ca = $T/ca.crt\ncert = $T/alice.crt\n" \
	"[sockhook] key: missing: a certificate login needs both cert and key"
check certpw "${base}ca = $T/ca.crt\ncert = $T/alice.crt\nkey = $T/alice.key\nuser = alice\npassword_file = $T/pass\n" \
	"[sockhook] cert: set together with password_file: log in by one of them"
check ispca "${base}ca = $T/ca.crt\ncert = $T/alice.crt\nkey = $T/alice.key\nisp_ca = $T/ca.crt\n" OK
check ispcapw "${base}ca = $T/ca.crt\nuser = alice\npassword_file = $T/pass\nisp_ca = $T/ca.crt\n" \
	"[sockhook] isp_ca: only for a certificate login (cert =): a password login proves the isp already"
check ispcaesp "esp = 127.0.0.1:1080\nroute = 10.0.0.0/8\nisp_ca = $T/ca.crt\n" \
	"[sockhook] isp_ca: only used with agent ="
check ispcabad "${base}ca = $T/ca.crt\ncert = $T/alice.crt\nkey = $T/alice.key\nisp_ca = $T/alice.crt\n" \
	"[sockhook] isp_ca: $T/alice.crt: certificate 1 is not a CA"
check ispname "${base}ca = $T/ca.crt\ncert = $T/alice.crt\nkey = $T/alice.key\nisp_ca = $T/ca.crt\nisp_name = isp1.corp.test, isp2.corp.test\n" OK
check ispnamenoca "${base}ca = $T/ca.crt\ncert = $T/alice.crt\nkey = $T/alice.key\nisp_name = isp1.corp.test\n" \
	"[sockhook] isp_name: only with isp_ca: the names are checked in the certificates under it"
check ispnamewild "${base}ca = $T/ca.crt\ncert = $T/alice.crt\nkey = $T/alice.key\nisp_ca = $T/ca.crt\nisp_name = *.corp.test\n" \
	"[sockhook] isp_name: a name has characters other than letters, digits, '-', '_' and '.'"
check ispnameempty "${base}ca = $T/ca.crt\ncert = $T/alice.crt\nkey = $T/alice.key\nisp_ca = $T/ca.crt\nisp_name = ,\n" \
	"[sockhook] isp_name: empty: name the isps' certificates"
check ispnameesp "esp = 127.0.0.1:1080\nroute = 10.0.0.0/8\nisp_name = isp1\n" \
	"[sockhook] isp_name: only used with agent ="
check viaesp "esp = 127.0.0.1:1080\nroute = 10.0.0.0/8\nvia = http://127.0.0.1:3128\n" \
	"[sockhook] via: only used with agent ="
check badvia "${base}ca = $T/ca.crt\nvia = gopher://x:1\n" \
	"[sockhook] via: unknown scheme \"gopher\"; use socks5:// or http://"
check logintimeout "${base}ca = $T/ca.crt\nlogin_timeout = 90s\n" OK
check logintimeoutshort "${base}ca = $T/ca.crt\nlogin_timeout = 500ms\n" \
	"[sockhook] login_timeout: out of range (1s to 10m)"
check logintimeoutesp "esp = 127.0.0.1:1080\nroute = 10.0.0.0/8\nlogin_timeout = 90s\n" \
	"[sockhook] login_timeout: only used with agent ="
printf '[sockhook]\n%bca = %s\n' "$base" "$T/pass" >"$T/badca.conf"
"$BIN/sockhook" -t -c "$T/badca.conf" >"$T/out" 2>&1 && fail "badca: -t accepted it"
grep -q "^sockhook: $T/badca.conf: \[sockhook\] ca: $T/pass: cannot load CA: " "$T/out" ||
	fail "badca: $(cat "$T/out")"
ok "badca: $(cat "$T/out")"
check caabsent "${base}ca = $T/nonexistent.pem\n" "[sockhook] ca: $T/nonexistent.pem: No such file or directory"
chmod 644 "$T/alice.key"
check openkey "${base}ca = $T/ca.crt\ncert = $T/alice.crt\nkey = $T/alice.key\n" \
	"[sockhook] key: $T/alice.key is accessible to group or others (mode 644); run chmod 600 $T/alice.key"
chmod 600 "$T/alice.key"
check wrongkey "${base}ca = $T/ca.crt\ncert = $T/alice.crt\nkey = $T/ca.key\n" \
	"[sockhook] key: $T/ca.key does not match the certificate $T/alice.crt"
chmod 644 "$T/pass"
check openpw "${base}ca = $T/ca.crt\nuser = alice\npassword_file = $T/pass\n" \
	"[sockhook] password_file: $T/pass is accessible to group or others (mode 644); run chmod 600 $T/pass"
chmod 600 "$T/pass"

# The shipped example, its paths made real.
sed "s#^ca .*#ca    = $T/ca.crt#; s#^password_file.*#password_file = $T/pass#" \
	"$TOP/etc/sockhook.conf" >"$T/example.conf"
"$BIN/sockhook" -t -c "$T/example.conf" >"$T/out" 2>&1 || fail "the example: $(cat "$T/out")"
ok "etc/sockhook.conf passes sockhook -t"
