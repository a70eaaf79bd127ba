#!/bin/bash
# 50 threads connect through the hook at once (half blocking, half
# non-blocking with poll); every one must fetch the file intact.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/common.sh"
sh_pair
before=$(esp_clients)
out=$(hooked "$THREADS" 50 127.0.0.1 "$HTTP_PORT" /blob "$T/www/blob" 2>&1) ||
    fail "threads: $out"
echo "$out"
[ "$(($(esp_clients) - before))" -ge 50 ] ||
    fail "only $(($(esp_clients) - before)) of 50 connections used the esp"
ok "50 concurrent threads fetched 1 MiB each through the esp, all intact"
