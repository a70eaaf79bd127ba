#!/bin/bash
# Bad or missing configuration: the launcher refuses with one clear line;
# the library, loaded by hand, says so once and fails closed.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/common.sh"
sh_need_build
mkdir -p "$T/www"
echo hello >"$T/www/index.html"
http_start "$T/www"

# one_line FILE: exactly one line, matching REGEX.
one_line() {
	[ "$(wc -l <"$1")" = 1 ] || fail "wanted one line on stderr, got: $(cat "$1")"
	grep -Eq "$2" "$1" || fail "wanted /$2/, got: $(cat "$1")"
}

cat >"$T/bad-route.conf" <<CONF
[sockhook]
esp   = 127.0.0.1:1
route = 10.0.0.0/33
CONF
if "$BIN/sockhook" -c "$T/bad-route.conf" -- true 2>"$T/err"; then
	fail "launcher accepted a bad route"
fi
one_line "$T/err" "^sockhook: $T/bad-route.conf: \[sockhook\] route: \"10.0.0.0/33\" is not"
ok "launcher: $(cat "$T/err")"

if "$BIN/sockhook" -c "$T/missing.conf" -- true 2>"$T/err"; then
	fail "launcher accepted a missing file"
fi
one_line "$T/err" "^sockhook: $T/missing.conf: cannot open"
ok "launcher: $(cat "$T/err")"

printf '[sockhook]\nesp = 127.0.0.1:1\nrout = 10.0.0.0/8\n' >"$T/typo.conf"
if "$BIN/sockhook" -c "$T/typo.conf" -- true 2>"$T/err"; then
	fail "launcher accepted an unknown key"
fi
one_line "$T/err" "\[sockhook\] rout: unknown key"
ok "launcher: $(cat "$T/err")"

printf '[sockhook]\nesp = nowhere\nroute = 127.0.0.1/32:%s\n' "$HTTP_PORT" >"$T/bad-esp.conf"
if "$BIN/sockhook" -c "$T/bad-esp.conf" -- true 2>"$T/err"; then
	fail "launcher accepted a bad esp"
fi
one_line "$T/err" "\[sockhook\] esp: \"nowhere\" is not HOST:PORT"
ok "launcher: $(cat "$T/err")"

printf '[sockhook]\nesp = 127.0.0.1:1\nuser = alice\npassword_file = nope\n' >"$T/nopass.conf"
if "$BIN/sockhook" -c "$T/nopass.conf" -- true 2>"$T/err"; then
	fail "launcher accepted a missing password file"
fi
one_line "$T/err" "\[sockhook\] password_file: $T/nope: No such file"
ok "launcher: $(cat "$T/err")"

printf 'secret\n' >"$T/pass"
chmod 644 "$T/pass"
printf '[sockhook]\nesp = 127.0.0.1:1\nuser = alice\npassword_file = pass\n' >"$T/openpass.conf"
if "$BIN/sockhook" -c "$T/openpass.conf" -- true 2>"$T/err"; then
	fail "launcher accepted a password file others can read"
fi
one_line "$T/err" "\[sockhook\] password_file: $T/pass is accessible to group or others \(mode 644\); run chmod 600 $T/pass\$"
chmod 640 "$T/pass"
"$BIN/sockhook" -c "$T/openpass.conf" -- true 2>"$T/err" && fail "launcher accepted a group-readable password file"
one_line "$T/err" "mode 640\); run chmod 600 $T/pass\$"
ok "launcher: $(cat "$T/err")"

# The environment the launcher hands on.
printf '[sockhook]\nesp = 127.0.0.1:1\nroute = 127.0.0.1/32:%s\n' "$HTTP_PORT" >"$T/good.conf"
(cd "$T" && "$BIN/sockhook" -c good.conf -- env) >"$T/env" || fail "launcher failed"
grep -qx "LD_PRELOAD=$(realpath "$HOOKLIB")" "$T/env" || fail "LD_PRELOAD not set: $(grep LD_PRELOAD "$T/env")"
grep -qx "SOCKHOOK_CONF=$T/good.conf" "$T/env" || fail "SOCKHOOK_CONF not absolute"
if SOCKHOOK_LIB=$T/nope.so "$BIN/sockhook" -c "$T/good.conf" -- true 2>"$T/err"; then
	fail "launcher ran without the library"
fi
one_line "$T/err" "cannot find libsockhook.so"
ok "launcher sets LD_PRELOAD and SOCKHOOK_CONF to absolute paths"

# By hand, with a bad esp key: routes are known, so only they fail.
LD_PRELOAD=$HOOKLIB SOCKHOOK_CONF=$T/bad-esp.conf "$NB" block 127.0.0.1 \
    "$HTTP_PORT" / >/dev/null 2>"$T/err" && fail "routed connect with a bad config succeeded"
grep -q "errno=EACCES" "$T/err" || fail "routed connect: wanted EACCES: $(cat "$T/err")"
[ "$(grep -c '^sockhook\[' "$T/err")" = 1 ] || fail "wanted one sockhook line: $(cat "$T/err")"
grep -q "esp: \"nowhere\" is not HOST:PORT.*; inside destinations are refused" "$T/err" ||
    fail "no clear line: $(cat "$T/err")"
ok "bad esp: $(grep '^sockhook\[' "$T/err" | cut -d' ' -f2-)"
LD_PRELOAD=$HOOKLIB SOCKHOOK_CONF=$T/bad-esp.conf python3 -c '
import socket, sys
try:
    socket.create_connection(("127.0.0.1", int(sys.argv[1])), 5)
except PermissionError:
    sys.exit(0)
sys.exit(1)' "$HTTP_PORT" 2>/dev/null || fail "python did not get PermissionError"
ok "routed connects fail closed with EACCES (C and Python)"

# No readable config: nothing is known, every non-loopback TCP connect is
# refused, loopback still works.
LD_PRELOAD=$HOOKLIB SOCKHOOK_CONF=$T/missing.conf "$NB" block 127.0.0.1 \
    "$HTTP_PORT" / >"$T/out" 2>"$T/err" || fail "loopback failed without a config"
grep -q hello "$T/out" || fail "loopback fetch without a config"
grep -q "missing.conf: cannot open.*every non-loopback TCP connect is refused" "$T/err" ||
    fail "no clear line: $(cat "$T/err")"
ok "no config: $(grep '^sockhook\[' "$T/err" | cut -d' ' -f2-)"
if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null; then
	# In an empty network namespace a leak would give ENETUNREACH.
	unshare -n env LD_PRELOAD="$HOOKLIB" SOCKHOOK_CONF="$T/missing.conf" \
	    "$NB" block 192.0.2.1 80 / 2>"$T/err" && fail "non-loopback connect succeeded"
	grep -q "errno=EACCES" "$T/err" || fail "wanted EACCES: $(cat "$T/err")"
	ok "no config: a non-loopback connect fails with EACCES"
else
	echo "note: not root, the non-loopback part is not run"
fi

# timeout: an ESP door that accepts but never answers ends in ETIMEDOUT.
SILENT=$(free_port)
bg_start "$T/silent.log" python3 -c '
import socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(64)
print("listening", flush=True)
time.sleep(120)' "$SILENT"
wait_for_log "$T/silent.log" listening 10
printf '[sockhook]\nesp = 127.0.0.1:%s\nroute = 127.0.0.1/32:%s\ntimeout = 1s\n' \
    "$SILENT" "$HTTP_PORT" >"$T/timeout.conf"
for mode in block poll; do
	start=$(date +%s%N)
	expect_errno ETIMEDOUT "$BIN/sockhook" -c "$T/timeout.conf" -- "$NB" "$mode" \
	    127.0.0.1 "$HTTP_PORT" /
	ms=$((($(date +%s%N) - start) / 1000000))
	[ "$ms" -ge 900 ] && [ "$ms" -lt 5000 ] || fail "$mode: timed out after ${ms}ms, not ~1s"
done
ok "timeout = 1s: a silent esp gives ETIMEDOUT after about a second"
