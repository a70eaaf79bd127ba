#!/bin/bash
# The WAN emulator (tests/wan.sh, build/tests/tools/delaybridge): with no
# delay the bridge adds almost nothing; with 10 ms each way a ping takes
# 20 ms and ARP and IPv6 ND resolve across it; 20 MB cross it over TCP
# intact; a leftover of a killed run is cleaned by the next wan_up; wan_down
# leaves no namespace and no bridge behind; not root, wan_up refuses.
. "$(dirname "$0")/../lib.sh"
[ "$(id -u)" = 0 ] || skip "needs root for network namespaces"
need_cmd ip socat python3 ss
. "$TESTS/wan.sh"
[ -x "$TOP/build/tests/tools/delaybridge" ] || fail "no build/tests/tools/delaybridge (make tests)"

P=dpb$$
trap 'wan_down "$P" 2>/dev/null; _cleanup' EXIT
# Leftovers of earlier runs killed before their EXIT trap: their pid is gone.
for n in $(ip netns list | sed -n 's/^dpb\([0-9]*\)w\( .*\)\{0,1\}$/\1/p'); do
	kill -0 "$n" 2>/dev/null || wan_down "dpb$n" 2>/dev/null
done

# rtt_ok SUMMARY LO HI: wan_ping's minimum is at least LO ms and its
# average at most HI ms.
rtt_ok() {
	local min avg
	read -r min avg <<<"$(echo "$1" | sed -n 's|.*= \([0-9.]*\)/\([0-9.]*\)/.*|\1 \2|p')"
	awk -v min="${min:-}" -v avg="${avg:-}" -v lo="$2" -v hi="$3" \
	    'BEGIN { exit !(min != "" && avg != "" && min >= lo && avg <= hi) }'
}
mac() { ip -n "$1" link show dev wan0 | awk '/link\/ether/ { print $2 }'; }

# Not root: a clear refusal, nothing created.
if command -v setpriv >/dev/null 2>&1; then
	out=$(setpriv --reuid=65534 --regid=65534 --clear-groups \
	    sh -c '. "$0"; wan_up dpbx$$ 10' "$TESTS/wan.sh" 2>&1) &&
		fail "wan_up as nobody succeeded"
	echo "$out" | grep -q "needs root" || fail "wan_up as nobody: unclear message: $out"
	ok "not root: $out"
fi

# No delay: the bridge alone.
wan_up "$P" 0 || fail "wan_up $P 0"
out=$(wan_ping "${P}c" "$WAN_S4" 20 0.02) || fail "ping across the bridge at 0 ms: $out"
rtt_ok "$out" 0 5 || fail "0 ms: round trip not below 5 ms: $out"
ok "0 ms: $out"

# Kill the bridge as a crashed run would and leave the namespaces: the
# next wan_up must clean them up first.
kill -9 "$WAN_PID"
wait "$WAN_PID" 2>/dev/null
ip netns list | grep -q "^${P}w" || fail "the namespaces went away with the bridge"
wan_up "$P" 10 || fail "wan_up $P 10 over a leftover"
ok "wan_up over the leftover of a killed run"

out=$(wan_ping "${P}c" "$WAN_S4" 20 0.02) || fail "ping at 10 ms: $out"
rtt_ok "$out" 19 30 || fail "10 ms: round trip not 19..30 ms: $out"
ok "10 ms, client -> server: $out"
out=$(wan_ping "${P}s" "$WAN_C4" 10 0.02) || fail "ping at 10 ms, server side: $out"
rtt_ok "$out" 19 30 || fail "10 ms, server side: round trip not 19..30 ms: $out"
ok "10 ms, server -> client: $out"
if [ -n "$WAN_S6" ]; then
	out=$(wan_ping "${P}c" "$WAN_S6" 10 0.02) || fail "IPv6 ping at 10 ms: $out"
	rtt_ok "$out" 19 30 || fail "10 ms, IPv6: round trip not 19..30 ms: $out"
	ok "10 ms, IPv6: $out"
	ip -n "${P}c" -6 neigh show "$WAN_S6" | grep -qi "lladdr $(mac "${P}s")" ||
		fail "no ND entry for $WAN_S6 on the client"
	ok "IPv6 ND resolved across the bridge"
else
	ok "no IPv6 in this kernel: IPv6 checks left out"
fi

# ARP went through the bridge: each end knows the other's MAC.
smac=$(mac "${P}s") cmac=$(mac "${P}c")
ip -n "${P}c" neigh show "$WAN_S4" | grep -qi "lladdr $smac" || fail "no ARP entry for $WAN_S4 ($smac) on the client"
ip -n "${P}s" neigh show "$WAN_C4" | grep -qi "lladdr $cmac" || fail "no ARP entry for $WAN_C4 ($cmac) on the server"
ok "ARP resolved across the bridge"

# 20 MB over TCP, client -> server, intact.
head -c $((20 * 1024 * 1024)) /dev/urandom >"$T/send"
bg_start "$T/server.log" ip netns exec "${P}s" timeout 25 \
	socat -u TCP-LISTEN:5001,bind="$WAN_S4",reuseaddr OPEN:"$T/recv",creat,trunc
spid=$BG_PID
for _ in $(seq 50); do
	[ -n "$(ip netns exec "${P}s" ss -Hltn 'sport = :5001')" ] && break
	sleep 0.1
done
t0=$(date +%s.%N)
ip netns exec "${P}c" timeout 20 socat -u OPEN:"$T/send" TCP:"$WAN_S4":5001 ||
	fail "TCP transfer across the bridge: socat exit $?"
t1=$(date +%s.%N)
wait "$spid" || fail "receiving socat exit $?"
[ "$(sha "$T/recv")" = "$(sha "$T/send")" ] || fail "20 MB across the bridge: SHA-256 differs"
ok "20 MB over TCP intact in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f s (%.0f Mbit/s, slow start included)", b - a, 20 * 8.388608 / (b - a) }')"

# Down: counters on stderr, no namespace and no bridge left.
pid=$WAN_PID
wan_down "$P" 2>"$T/down.log" || fail "wan_down: $(cat "$T/down.log")"
sed 's/^/    /' "$T/down.log"
grep -q "frames out" "$T/down.log" || fail "the bridge printed no counters on SIGTERM"
left=$(ip netns list | grep -E "^${P}[cws]( |$)")
[ -z "$left" ] || fail "namespaces left after wan_down: $left"
[ -r "/proc/$pid/stat" ] && fail "delaybridge $pid still running after wan_down"
wan_down "$P" 2>/dev/null || fail "a second wan_down failed"
ok "wan_down removed the namespaces and the bridge; a second one is harmless"
