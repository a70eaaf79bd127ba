#!/bin/bash
# Inside names: names under a dns suffix get placeholders from
# 198.18.0.0/15, a connect to one sends the name to the esp (the isp
# resolves it), and reverse lookups give the name back. Other names
# resolve as usual.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/common.sh"
need_cmd python3
sh_pair

hooked python3 - <<'PY' || fail "lookups through the hook are wrong"
import ipaddress, socket
net = ipaddress.ip_network("198.18.0.0/15")
a = socket.getaddrinfo("localhost", 80, socket.AF_INET, socket.SOCK_STREAM)[0][4][0]
assert ipaddress.ip_address(a) in net, a
b = socket.gethostbyname("www.corp.test")
assert ipaddress.ip_address(b) in net and b != a, b
name, aliases, addrs = socket.gethostbyname_ex("WWW.Corp.Test.")
assert addrs == [b], (addrs, b)
assert socket.getaddrinfo("localhost", 80, socket.AF_INET)[0][4][0] == a
assert socket.getnameinfo((a, 80), 0)[0] == "localhost"
assert socket.gethostbyaddr(b)[0] == "www.corp.test"
# AAAA: none, unless v4-mapped answers are asked for.
try:
    socket.getaddrinfo("www.corp.test", 80, socket.AF_INET6)
    raise SystemExit("AF_INET6 lookup of an inside name answered")
except socket.gaierror:
    pass
# "corp.test" itself is not under ".corp.test".
try:
    r = socket.getaddrinfo("corp.test", 80, socket.AF_INET)[0][4][0]
    assert ipaddress.ip_address(r) not in net, r
except socket.gaierror:
    pass
# Placeholders follow no order a page could guess, and map back.
addrs = [socket.gethostbyname("n%d.corp.test" % i) for i in range(40)]
assert len(set(addrs)) == 40 and all(ipaddress.ip_address(x) in net for x in addrs), addrs
seq = [str(ipaddress.ip_address("198.18.0.0") + i) for i in range(1, 43)]
assert not set(addrs) <= set(seq), addrs
for i, x in enumerate(addrs):
    assert socket.gethostbyaddr(x)[0] == "n%d.corp.test" % i, (i, x)
print("lookups: placeholder", a, "and", b)
print("first placeholder", addrs[0])
PY
ok "getaddrinfo, gethostbyname, getnameinfo and gethostbyaddr use placeholders"
hooked python3 -c '
import socket; print("first placeholder", socket.gethostbyname("n0.corp.test"))' >"$T/p2.out" ||
	fail "second lookup failed"
hooked python3 -c '
import socket; print("first placeholder", socket.gethostbyname("n0.corp.test"))' >"$T/p3.out" ||
	fail "third lookup failed"
[ "$(cat "$T/p2.out")" != "$(cat "$T/p3.out")" ] ||
	fail "two programs gave the same name the same placeholder: $(cat "$T/p2.out")"
ok "placeholders are in a random order, new for each program ($(cat "$T/p2.out"), then $(cat "$T/p3.out" | cut -d' ' -f3))"

# An outside name whose answer is in 198.18.0.0/15 (a hostile resolver's
# aim at an inside name) is dropped: the lookup finds nothing.
if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null; then
	printf '127.0.0.1 localhost\n198.18.0.1 evil.test\n' >"$T/hosts"
	unshare --mount --propagation private sh -c "mount --bind '$T/hosts' /etc/hosts &&
		exec '$BIN/sockhook' -c '$T/sockhook.conf' -- python3 -c '
import socket
for f in (lambda: socket.getaddrinfo(\"evil.test\", 80, socket.AF_INET), lambda: socket.gethostbyname(\"evil.test\")):
    try:
        r = f()
        raise SystemExit(\"evil.test answered: %r\" % (r,))
    except socket.gaierror:
        pass
print(\"dropped\")
'" >"$T/evil.out" 2>"$T/evil.err" || fail "outside answer in the range: $(cat "$T/evil.out" "$T/evil.err")"
	grep -qx dropped "$T/evil.out" || fail "outside answer: $(cat "$T/evil.out")"
	grep -q "evil.test: an answer in 198.18.0.0/15 from outside, dropped" "$T/evil.err" ||
		fail "no line for the dropped answer: $(cat "$T/evil.err")"
	ok "an outside name answered with 198.18.0.1 finds nothing, and sockhook says why"
	# Without a dns suffix there are no placeholders: the range is an
	# address like any other (as with fake-ip resolvers), and is kept.
	grep -v '^dns' "$T/sockhook.conf" >"$T/nodns.conf"
	unshare --mount --propagation private sh -c "mount --bind '$T/hosts' /etc/hosts &&
		exec '$BIN/sockhook' -c '$T/nodns.conf' -- python3 -c '
import socket
a = socket.getaddrinfo(\"evil.test\", 80, socket.AF_INET)[0][4][0]
b = socket.gethostbyname(\"evil.test\")
print(a, b)
'" >"$T/nodns.out" 2>"$T/nodns.err" || fail "no dns suffix: $(cat "$T/nodns.out" "$T/nodns.err")"
	[ "$(cat "$T/nodns.out")" = "198.18.0.1 198.18.0.1" ] || fail "no dns suffix: $(cat "$T/nodns.out" "$T/nodns.err")"
	ok "without a dns suffix, an answer in 198.18.0.0/15 is kept"
else
	echo "skip: an outside answer in 198.18.0.0/15 (needs root for a private /etc/hosts)"
fi

# Where getrandom(2) fails (an older kernel early in boot, a seccomp
# policy), the library falls back to /dev/urandom and still loads.
timeout 20 "$BIN/sockhook" -c "$T/sockhook.conf" -- "$TOP/build/tests/sockhook/norandom" \
    "$NB" block localhost "$HTTP_PORT" /blob >"$T/norandom.out" 2>"$T/norandom.err" ||
    fail "without getrandom: exit $?: $(cat "$T/norandom.err")"
[ "$(sha "$T/norandom.out")" = "$BLOB_SHA" ] || fail "without getrandom: SHA-256 differs"
ok "without getrandom the library loads, and a fetch by inside name works"

# Fetch by name: the esp is asked for the name, not an address.
hooked python3 -c '
import sys, urllib.request
open(sys.argv[2], "wb").write(urllib.request.urlopen(sys.argv[1], timeout=30).read())
' "http://localhost:$HTTP_PORT/blob" "$T/name.out" || fail "fetch by inside name failed"
[ "$(sha "$T/name.out")" = "$BLOB_SHA" ] || fail "inside name: SHA-256 differs"
wait_for_log "$ESP_LOG" "[>] localhost:$HTTP_PORT" 5
ok "urllib fetched http://localhost:$HTTP_PORT/ with the name resolved by the isp"

for mode in block poll epoll; do
	hooked "$NB" "$mode" localhost "$HTTP_PORT" /blob >"$T/$mode.out" 2>"$T/$mode.err" ||
	    fail "$mode by name: $(cat "$T/$mode.err")"
	[ "$(sha "$T/$mode.out")" = "$BLOB_SHA" ] || fail "$mode by name: SHA-256 differs"
done
ok "blocking, poll and epoll clients connect by inside name"

# A name the isp cannot resolve.
expect_errno EHOSTUNREACH hooked "$NB" block nosuch.corp.test "$HTTP_PORT" /
ok "an inside name the isp cannot resolve gives EHOSTUNREACH"

# A placeholder this process never handed out is not a destination.
expect_errno EHOSTUNREACH hooked "$NB" block 198.18.200.1 80 /
ok "an unknown placeholder gives EHOSTUNREACH and goes nowhere"

# Without "localhost" in dns, it resolves normally.
SH_EXTRA="" sh_conf "$T/plain.conf"
sed -i 's/^dns .*/dns = .corp.test/' "$T/plain.conf"
"$BIN/sockhook" -c "$T/plain.conf" -- python3 -c '
import socket
assert socket.gethostbyname("localhost") == "127.0.0.1"
' || fail "localhost did not resolve normally without a dns suffix"
ok "names outside the dns suffixes resolve as usual"
