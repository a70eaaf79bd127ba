#!/bin/bash
# In network namespaces, where the direct path is really blocked: the
# client and the esp live in one namespace with no route to the inside
# networks; the isp and the inside server live in another. Through the
# hook curl, urllib and a poll client fetch by address and by inside name;
# an unreachable host, an unroutable network and a policy refusal give
# their exact errno.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/common.sh"
need_root
need_cmd ip curl python3
sh_need_build
A=shA$$
B=shB$$
netns_add "$A"
netns_add "$B"
trap 'rm -rf "/etc/netns/$B"; rmdir /etc/netns 2>/dev/null; _cleanup' EXIT
ip -n "$A" link add a0 type veth peer name b0 netns "$B" ||
    skip "cannot create veth pairs here"
ip -n "$A" addr add 10.201.0.1/30 dev a0
ip -n "$B" addr add 10.201.0.2/30 dev b0
ip -n "$A" link set a0 up
ip -n "$B" link set b0 up
ip -n "$B" addr add 10.202.0.1/32 dev lo      # the inside server
ip -n "$B" route add unreachable 10.203.0.0/24 # a host that cannot be reached
# A network that never answers (SYNs dropped), when nftables is there.
HAVE_NFT=0
if command -v nft >/dev/null 2>&1 &&
    ip netns exec "$B" nft add table inet shtest 2>/dev/null &&
    ip netns exec "$B" nft add chain inet shtest out \
	'{ type filter hook output priority 0; }' &&
    ip netns exec "$B" nft add rule inet shtest out ip daddr 10.206.0.0/24 drop &&
    ip -n "$B" route add 10.206.0.0/24 dev lo; then
	HAVE_NFT=1
fi
# The inside name, resolved by the isp only (ip netns exec mounts this).
mkdir -p "/etc/netns/$B"
printf '127.0.0.1 localhost\n10.202.0.1 web.corp.test\n' >"/etc/netns/$B/hosts"

mkdir -p "$T/www"
head -c 1048576 /dev/urandom >"$T/www/blob"
BLOB_SHA=$(sha "$T/www/blob")
NETNS=$B http_start "$T/www" 10.202.0.1
ALLOW="10.202.0.1/32:$HTTP_PORT 10.203.0.0/24 10.204.0.0/24 10.206.0.0/24"
ISP_EXTRA="connect_timeout = 2s"
[ "$SH_MODE" = agent ] && sh_agent_setup
NETNS_ESP=$A NETNS_ISP=$B ESP_ADDR=10.201.0.1 pair_start
cat >"$T/sockhook.conf" <<CONF
[sockhook]
$(sh_door)
route = 10.202.0.0/16 10.203.0.0/16 10.204.0.0/16 10.205.0.0/16 10.206.0.0/16
dns   = corp.test
CONF
inA() { ip netns exec "$A" "$@"; }
url=http://10.202.0.1:$HTTP_PORT/blob

# The direct path is blocked.
if inA curl -sS -m 5 -o /dev/null "$url" 2>"$T/err"; then
	fail "the client namespace reaches the inside directly"
fi
expect_errno ENETUNREACH inA "$NB" block 10.202.0.1 "$HTTP_PORT" /
ok "without the hook the inside is unreachable: $(head -1 "$T/err")"

inA "$BIN/sockhook" -c "$T/sockhook.conf" -- curl -sS -m 30 -o "$T/curl.out" "$url" ||
    fail "curl through the hook failed"
[ "$(sha "$T/curl.out")" = "$BLOB_SHA" ] || fail "curl: SHA-256 differs"
ok "curl through the hook, SHA-256 matches"

inA "$BIN/sockhook" -c "$T/sockhook.conf" -- curl -sS -m 30 -o "$T/name.out" \
    "http://web.corp.test:$HTTP_PORT/blob" || fail "curl by inside name failed"
[ "$(sha "$T/name.out")" = "$BLOB_SHA" ] || fail "curl by name: SHA-256 differs"
ok "curl http://web.corp.test/ (resolved inside), SHA-256 matches"

inA "$BIN/sockhook" -c "$T/sockhook.conf" -- python3 -c '
import sys, urllib.request
open(sys.argv[2], "wb").write(urllib.request.urlopen(sys.argv[1], timeout=30).read())
' "$url" "$T/py.out" || fail "urllib through the hook failed"
[ "$(sha "$T/py.out")" = "$BLOB_SHA" ] || fail "urllib: SHA-256 differs"
ok "python urllib through the hook, SHA-256 matches"

for mode in poll epoll; do
	inA "$BIN/sockhook" -c "$T/sockhook.conf" -- "$NB" "$mode" 10.202.0.1 \
	    "$HTTP_PORT" /blob >"$T/$mode.out" || fail "$mode client failed"
	[ "$(sha "$T/$mode.out")" = "$BLOB_SHA" ] || fail "$mode: SHA-256 differs"
done
ok "poll and epoll clients through the hook, SHA-256 matches"

for mode in block poll; do
	expect_errno EHOSTUNREACH inA "$BIN/sockhook" -c "$T/sockhook.conf" -- \
	    "$NB" "$mode" 10.203.0.5 80 /
	expect_errno ENETUNREACH inA "$BIN/sockhook" -c "$T/sockhook.conf" -- \
	    "$NB" "$mode" 10.204.0.5 80 /
	expect_errno EACCES inA "$BIN/sockhook" -c "$T/sockhook.conf" -- \
	    "$NB" "$mode" 10.205.0.5 80 /
done
ok "unreachable host EHOSTUNREACH, no route ENETUNREACH, policy EACCES"

if [ "$HAVE_NFT" = 1 ]; then
	for mode in block epoll; do
		expect_errno ETIMEDOUT inA "$BIN/sockhook" -c "$T/sockhook.conf" -- \
		    "$NB" "$mode" 10.206.0.5 80 /
	done
	ok "an inside connect that times out gives ETIMEDOUT"
else
	echo "note: no nftables, the timeout case is not tried"
fi
