#!/bin/bash
# 200 concurrent curl transfers through one session, each checked by SHA-256.
. "$(dirname "$0")/../lib.sh"

mkdir -p "$T/www" "$T/out"
for i in 0 1 2 3; do head -c $((256 * 1024 + i)) /dev/urandom >"$T/www/f$i"; done
http_start "$T/www"
ALLOW="127.0.0.1/32:$HTTP_PORT"
pair_start

pids=""
for i in $(seq 1 200); do
	curl -sS --fail --max-time 120 --socks5-hostname "127.0.0.1:$SOCKS_PORT" \
		-o "$T/out/$i" "http://127.0.0.1:$HTTP_PORT/f$((i % 4))" 2>"$T/out/$i.err" &
	pids="$pids $!"
done
bad=0
for p in $pids; do wait "$p" || bad=$((bad + 1)); done
[ $bad = 0 ] || fail "$bad of 200 curl runs failed: $(cat "$T"/out/*.err | sort | uniq -c | head -3)"
for i in $(seq 1 200); do
	[ "$(sha "$T/out/$i")" = "$(sha "$T/www/f$((i % 4))")" ] || fail "transfer $i: SHA-256 differs"
done
ok "200 concurrent transfers intact"
n=$(count_log "$ESP_LOG" "closed: done")
[ "$n" -ge 200 ] || fail "esp logged $n clean channel closes, want 200"
grep -c "session with .* up" "$ISP_LOG" | grep -qx 1 || fail "more than one session was used"
ok "one session carried all 200"
