#!/bin/bash
# A reader that has stopped neither stalls other channels nor grows memory:
# while one channel's client reads nothing from a 128 MiB stream, another
# moves 100 MiB; both daemons' peak RSS stays bounded; then the stalled
# client reads its stream, intact.
. "$(dirname "$0")/../lib.sh"
PEER="python3 $TESTS/tools/peer.py"

mkdir -p "$T/www"
head -c $((100 * 1024 * 1024)) /dev/urandom >"$T/www/m100"
http_start "$T/www"
SPORT=$(free_port)
bg_start "$T/stream.log" $PEER stream-server "$SPORT" $((128 * 1024 * 1024))
wait_for_log "$T/stream.log" listening 10
ALLOW="127.0.0.1/32:$HTTP_PORT,$SPORT"
pair_start
base_esp=$(rss_kb "$ESP_PID") base_isp=$(rss_kb "$ISP_PID")

bg_start "$T/slow.log" $PEER slow-reader "$SOCKS_PORT" 127.0.0.1 "$SPORT" \
	$((128 * 1024 * 1024)) "$T/go"
slow=$BG_PID
wait_for_log "$T/slow.log" stalled 10
sleep 1

curl -sS --fail --max-time 60 --socks5-hostname "127.0.0.1:$SOCKS_PORT" \
	-o "$T/out" "http://127.0.0.1:$HTTP_PORT/m100" || fail "100 MiB beside a stalled reader: curl exit $?"
[ "$(sha "$T/out")" = "$(sha "$T/www/m100")" ] || fail "100 MiB: SHA-256 differs"
ok "100 MiB moved beside a stalled channel"

peak_esp=$(peak_kb "$ESP_PID") peak_isp=$(peak_kb "$ISP_PID")
echo "esp RSS: start ${base_esp} KiB, peak ${peak_esp} KiB; isp: start ${base_isp} KiB, peak ${peak_isp} KiB"
# The bound: a 16 MiB session window, a 512 KiB channel window, queues.
# Unbounded buffering of the stalled 128 MiB stream would blow far past it.
limit=$((48 * 1024))
[ "$peak_esp" -lt $((base_esp + limit)) ] || fail "esp peak RSS ${peak_esp} KiB (start ${base_esp})"
[ "$peak_isp" -lt $((base_isp + limit)) ] || fail "isp peak RSS ${peak_isp} KiB (start ${base_isp})"
ok "peak RSS bounded (esp +$((peak_esp - base_esp)) KiB, isp +$((peak_isp - base_isp)) KiB)"

touch "$T/go"
for i in $(seq 600); do kill -0 "$slow" 2>/dev/null || break; sleep 0.1; done
got=$(awk '/^got/ {print $2, $3}' "$T/slow.log")
want=$(awk '/^want/ {print $2, $3}' "$T/slow.log")
[ -n "$got" ] && [ "$got" = "$want" ] || fail "stalled stream after resuming: got '$got', want '$want'"
ok "stalled stream resumed and arrived intact (128 MiB)"
peak_esp=$(peak_kb "$ESP_PID") peak_isp=$(peak_kb "$ISP_PID")
[ "$peak_esp" -lt $((base_esp + limit)) ] || fail "esp peak RSS ${peak_esp} KiB after the stream"
[ "$peak_isp" -lt $((base_isp + limit)) ] || fail "isp peak RSS ${peak_isp} KiB after the stream"
