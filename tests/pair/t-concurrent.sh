#!/bin/bash
# 200 concurrent curl transfers through one session, each checked by SHA-256.
. "$(dirname "$0")/../lib.sh"

mkdir -p "$T/www"
for i in 0 1 2 3; do head -c $((256 * 1024 + i)) /dev/urandom >"$T/www/f$i"; done
http_start "$T/www"
ALLOW="127.0.0.1/32:$HTTP_PORT"
pair_start

fetch_many 200 120
ok "200 concurrent transfers intact"
# A channel's close is logged maybe after its curl exits.
wait_for_count "$ESP_LOG" "closed: done" 200 10
n=$(count_log "$ESP_LOG" "closed: done")
[ "$n" -ge 200 ] || fail "esp logged $n clean channel closes, want 200"
grep -c "session with .* up" "$ISP_LOG" | grep -qx 1 || fail "more than one session was used"
ok "one session carried all 200"
