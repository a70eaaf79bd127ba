#!/bin/bash
# The esp is killed and restarted: the isp reconnects and the next transfer
# succeeds. Then SIGTERM drains: a transfer under way completes intact and
# the esp exits 0.
. "$(dirname "$0")/../lib.sh"

mkdir -p "$T/www"
head -c $((20 * 1024 * 1024)) /dev/urandom >"$T/www/f"
http_start "$T/www"
ALLOW="127.0.0.1/32:$HTTP_PORT"
pair_start

kill -9 "$ESP_PID"
wait_for_log "$ISP_LOG" "session with .* closed" 10
wait_for_log "$ISP_LOG" "reconnecting to esp" 10
ESP_LOG=$T/esp2.log
esp_start
wait_for_log "$ESP_LOG" "isp \".*\" serves" 20
curl -sS --fail --max-time 60 --socks5-hostname "127.0.0.1:$SOCKS_PORT" \
	-o "$T/out" "http://127.0.0.1:$HTTP_PORT/f" || fail "transfer after restart: curl exit $?"
[ "$(sha "$T/out")" = "$(sha "$T/www/f")" ] || fail "transfer after restart: SHA-256 differs"
ok "isp reconnected to the restarted esp; transfer intact"

# Drain: start a slow-ish transfer, SIGTERM the esp in the middle.
rm -f "$T/out"
curl -sS --fail --max-time 60 --limit-rate 10M --socks5-hostname "127.0.0.1:$SOCKS_PORT" \
	-o "$T/out" "http://127.0.0.1:$HTTP_PORT/f" &
cpid=$!
sleep 0.5
kill -TERM "$ESP_PID"
wait "$cpid" || fail "transfer during drain: curl exit $?"
[ "$(sha "$T/out")" = "$(sha "$T/www/f")" ] || fail "transfer during drain: SHA-256 differs"
for i in $(seq 50); do kill -0 "$ESP_PID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$ESP_PID" 2>/dev/null && fail "esp did not exit after draining"
wait "$ESP_PID"
rc=$?
[ $rc = 0 ] || fail "esp exited $rc after SIGTERM"
grep -q "draining" "$ESP_LOG" || fail "esp did not log draining"
grep -q "peer says goodbye: shutting down: esp shutting down" "$ISP_LOG" || fail "isp did not see GOAWAY"
ok "SIGTERM drained: transfer intact, esp exited 0"
