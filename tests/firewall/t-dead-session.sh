#!/bin/bash
# Through a real one-port firewall (network namespaces, nftables): the
# direct path is blocked, the pair works, and when the firewall starts
# silently dropping the session, both sides declare it dead within
# dead_after, reset its channels, and the isp reconnects once packets pass.
. "$(dirname "$0")/../lib.sh"
. "$TESTS/netns.sh"

SESSION_PORT=4430
netns_firewall_up $SESSION_PORT

mkdir -p "$T/www"
head -c $((8 * 1024 * 1024)) /dev/urandom >"$T/www/f"
head -c $((64 * 1024 * 1024)) /dev/urandom >"$T/www/big"
NETNS=$NS_IN http_start "$T/www" "$IN_ADDR"

# The direct path is blocked.
ip netns exec "$NS_OUT" curl -s --max-time 3 -o /dev/null "http://$IN_ADDR:$HTTP_PORT/f" &&
	fail "the direct path from outside to inside is open"
ok "direct path outside -> inside is blocked"

NETNS_ESP=$NS_OUT NETNS_ISP=$NS_IN
ESP_ADDR=$OUT_ADDR SOCKS_ADDR=127.0.0.1
ALLOW="$IN_ADDR/32:$HTTP_PORT"
KEEPALIVE=1s DEAD_AFTER=4s
ISP_EXTRA="connect_timeout = 2s"
RECONNECT_MAX=2s
pair_start
fetch() {
	rm -f "$T/out"
	ip netns exec "$NS_OUT" curl -sS --fail --max-time "$1" --socks5-hostname "127.0.0.1:$SOCKS_PORT" \
		-o "$T/out" "http://$IN_ADDR:$HTTP_PORT/f"
}
fetch 30 || fail "transfer through the pair: curl exit $?"
[ "$(sha "$T/out")" = "$(sha "$T/www/f")" ] || fail "SHA-256 differs"
ok "transfer through the one-port firewall intact"

# A transfer under way when the session goes dark must fail, not truncate
# silently: curl sees an error.
ip netns exec "$NS_OUT" curl -sS --max-time 60 --limit-rate 2M --socks5-hostname "127.0.0.1:$SOCKS_PORT" \
	-o "$T/partial" "http://$IN_ADDR:$HTTP_PORT/big" 2>"$T/curl.err" &
cpid=$!
sleep 1.5
netns_blackhole_on $SESSION_PORT
t0=$(date +%s)
wait_for_log "$ESP_LOG" "session declared dead" 10
wait_for_log "$ISP_LOG" "session declared dead" 10
t1=$(date +%s)
ok "dead session detected by both sides in $((t1 - t0)) s (dead_after 4 s)"
wait "$cpid"
rc=$?
[ $rc != 0 ] || fail "the transfer cut by the dead session reported success"
grep -q "session lost" "$ESP_LOG" || fail "esp did not reset the channel"
ok "the cut transfer failed visibly (curl exit $rc: $(head -c 120 "$T/curl.err"))"

wait_for_log "$ISP_LOG" "cannot connect to esp|reconnecting to esp" 10
n_up=$(count_log "$ISP_LOG" "session with .* up")
netns_blackhole_off $SESSION_PORT
for i in $(seq 150); do
	[ "$(count_log "$ISP_LOG" "session with .* up")" -gt "$n_up" ] && break
	sleep 0.2
done
[ "$(count_log "$ISP_LOG" "session with .* up")" -gt "$n_up" ] || fail "isp did not reconnect after the firewall opened"
ok "isp reconnected once packets passed again"
sleep 0.5
fetch 30 || fail "transfer after reconnect: curl exit $?"
[ "$(sha "$T/out")" = "$(sha "$T/www/f")" ] || fail "after reconnect: SHA-256 differs"
ok "transfer after reconnect intact"
