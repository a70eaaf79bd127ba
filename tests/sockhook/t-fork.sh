#!/bin/bash
# Children stay hooked: a forked child connects (to an inside name the
# parent resolved, so placeholders agree across fork), and programs a
# shell starts under sockhook go through the esp too.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/common.sh"
need_cmd curl
sh_pair

before=$(esp_clients)
hooked "$NB" fork 127.0.0.1 "$HTTP_PORT" /blob >"$T/fork.out" 2>"$T/fork.err" ||
    fail "forked child failed: $(cat "$T/fork.err")"
[ "$(sha "$T/fork.out")" = "$BLOB_SHA" ] || fail "fork: SHA-256 differs"
[ "$(esp_clients)" -gt "$before" ] || fail "forked child did not use the esp"
ok "forked child connected through the esp, SHA-256 matches"

before=$(esp_clients)
hooked "$NB" fork localhost "$HTTP_PORT" /blob >"$T/forkname.out" 2>"$T/forkname.err" ||
    fail "forked child (inside name) failed: $(cat "$T/forkname.err")"
[ "$(sha "$T/forkname.out")" = "$BLOB_SHA" ] || fail "fork name: SHA-256 differs"
[ "$(esp_clients)" -gt "$before" ] || fail "forked child did not use the esp"
ok "forked child used the parent's placeholder for an inside name"

# sh -c: fork and exec; LD_PRELOAD and SOCKHOOK_CONF are inherited.
before=$(esp_clients)
hooked sh -c 'env | grep -q "^LD_PRELOAD=.*libsockhook.so" &&
    curl -sS -o "$1" "$2" && sh -c "curl -sS -o \"\$1.2\" \"\$2\"" x "$1" "$2"' \
    x "$T/sh.out" "http://127.0.0.1:$HTTP_PORT/blob" || fail "shell children failed"
[ "$(sha "$T/sh.out")" = "$BLOB_SHA" ] || fail "shell child: SHA-256 differs"
[ "$(sha "$T/sh.out.2")" = "$BLOB_SHA" ] || fail "grandchild: SHA-256 differs"
[ "$(($(esp_clients) - before))" -ge 2 ] || fail "shell children did not use the esp"
ok "child and grandchild processes of a shell stay hooked"
