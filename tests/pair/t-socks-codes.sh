#!/bin/bash
# SOCKS5 reply codes for inside outcomes, prompt failure without a session,
# and clean closes for garbage and stalled handshakes.
. "$(dirname "$0")/../lib.sh"
PEER="python3 $TESTS/tools/peer.py"

mkdir -p "$T/www"
echo hello >"$T/www/x"
http_start "$T/www"
closed=$(free_port) # nothing listens here
ALLOW="127.0.0.1/32:$HTTP_PORT,$closed"
ESP_EXTRA="socks_timeout = 1s"
pair_start

code=$($PEER reply "$SOCKS_PORT" 127.0.0.1 "$HTTP_PORT")
[ "$code" = 0 ] || fail "allowed destination: reply $code, want 0"
ok "allowed destination: reply 0"

code=$($PEER reply "$SOCKS_PORT" 127.0.0.1 "$closed")
[ "$code" = 5 ] || fail "refused port: reply $code, want 5"
ok "refused port: reply 5 (connection refused)"
curl -sS --socks5-hostname "127.0.0.1:$SOCKS_PORT" "http://127.0.0.1:$closed/" 2>"$T/curl.err"
rc=$?
[ $rc = 97 ] || fail "curl to a refused port: exit $rc, want 97 (SOCKS error)"
grep -q "(5)" "$T/curl.err" || grep -qi "refused" "$T/curl.err" || fail "curl message: $(cat "$T/curl.err")"

# 127.0.0.2 is outside allow: the esp refuses it before it crosses the
# session (it holds the isp's allow list); the isp would refuse it too.
code=$($PEER reply "$SOCKS_PORT" 127.0.0.2 "$HTTP_PORT")
[ "$code" = 2 ] || fail "destination outside allow: reply $code, want 2"
grep -q "127.0.0.2:$HTTP_PORT: not allowed by policy" "$ESP_LOG" || fail "esp did not log the refusal"
ok "outside allow: reply 2 (not allowed)"

# A name that resolves outside allow is refused by the isp.
code=$($PEER reply "$SOCKS_PORT" localhost 9)
[ "$code" = 2 ] || fail "name outside allow: reply $code, want 2"
grep -q "localhost:9 refused: not allowed by policy" "$ISP_LOG" || fail "isp did not log the refusal"
ok "name outside allow: reply 2 from the isp"

code=$($PEER reply "$SOCKS_PORT" no-such-host.invalid 80)
[ "$code" = 4 ] || fail "unresolvable name: reply $code, want 4"
ok "unresolvable name: reply 4 (host unreachable)"

out=$($PEER garbage "$SOCKS_PORT" badcmd)
case $out in *"got 050700"*) ;; *) fail "BIND: $out, want code 7" ;; esac
ok "BIND: reply 7 (command not supported)"
out=$($PEER garbage "$SOCKS_PORT" badatyp)
case $out in *"got 050800"*) ;; *) fail "bad address type: $out, want code 8" ;; esac
ok "bad address type: reply 8"
out=$($PEER garbage "$SOCKS_PORT" noauth)
case $out in *"got 05ff"*) ;; *) fail "no acceptable method: $out, want 05ff" ;; esac
ok "no acceptable method: 0xff and close"

out=$($PEER garbage "$SOCKS_PORT" http)
case $out in "closed after 0."*", got -") ;; *) fail "HTTP garbage: $out" ;; esac
ok "garbage: closed at once ($out)"
out=$($PEER garbage "$SOCKS_PORT" partial)
case $out in "closed after "[12]"."*", got -") ;; *) fail "half handshake: $out, want close after the 1 s timeout" ;; esac
ok "half-finished handshake: closed by the timeout ($out)"
out=$($PEER garbage "$SOCKS_PORT" silent)
case $out in "closed after "[12]"."*", got -") ;; *) fail "silent client: $out" ;; esac
ok "silent client: closed by the timeout"

# The esp still works after all that.
curl -sS --fail --socks5-hostname "127.0.0.1:$SOCKS_PORT" "http://127.0.0.1:$HTTP_PORT/x" | grep -qx hello ||
	fail "esp stopped serving after bad clients"

# No session: prompt failure, not a hang.
kill "$ISP_PID"
wait_for_log "$ESP_LOG" "session with .* closed" 10
start=$(date +%s%N)
code=$($PEER reply "$SOCKS_PORT" 127.0.0.1 "$HTTP_PORT")
ms=$((($(date +%s%N) - start) / 1000000))
[ "$code" = 3 ] || fail "no session: reply $code, want 3"
[ $ms -lt 1000 ] || fail "no session: answer took $ms ms"
ok "no session: reply 3 in $ms ms"
