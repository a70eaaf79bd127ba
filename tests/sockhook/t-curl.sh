#!/bin/bash
# Unmodified curl and Python urllib fetch through the hook, checked by
# SHA-256; the esp must have carried the connections.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/common.sh"
need_cmd curl python3
sh_pair
url=http://127.0.0.1:$HTTP_PORT/blob

before=$(esp_clients)
hooked curl -sS -o "$T/curl.out" "$url" || fail "curl through sockhook failed"
[ "$(sha "$T/curl.out")" = "$BLOB_SHA" ] || fail "curl: SHA-256 differs"
[ "$(esp_clients)" -gt "$before" ] || fail "curl did not go through the esp"
ok "curl fetched 1 MiB through the esp, SHA-256 matches"

before=$(esp_clients)
hooked python3 -c '
import sys, urllib.request
data = urllib.request.urlopen(sys.argv[1], timeout=30).read()
open(sys.argv[2], "wb").write(data)
' "$url" "$T/py.out" || fail "python urllib through sockhook failed"
[ "$(sha "$T/py.out")" = "$BLOB_SHA" ] || fail "urllib: SHA-256 differs"
[ "$(esp_clients)" -gt "$before" ] || fail "urllib did not go through the esp"
ok "python urllib fetched 1 MiB through the esp, SHA-256 matches"

# Blocking urllib (no timeout) takes the blocking path.
before=$(esp_clients)
hooked python3 -c '
import sys, urllib.request
open(sys.argv[2], "wb").write(urllib.request.urlopen(sys.argv[1]).read())
' "$url" "$T/py2.out" || fail "blocking urllib through sockhook failed"
[ "$(sha "$T/py2.out")" = "$BLOB_SHA" ] || fail "blocking urllib: SHA-256 differs"
[ "$(esp_clients)" -gt "$before" ] || fail "blocking urllib did not use the esp"
ok "blocking python urllib through the esp, SHA-256 matches"
