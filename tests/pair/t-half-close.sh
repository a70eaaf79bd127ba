#!/bin/bash
# Half-close both ways: after shutdown(SHUT_WR) the other direction keeps
# flowing. And an abort reaches the far end as a reset, both ways.
. "$(dirname "$0")/../lib.sh"
PEER="python3 $TESTS/tools/peer.py"

P1=$(free_port) P2=$(free_port) P3=$(free_port) P4=$(free_port)
ALLOW="127.0.0.1/32:$P1,$P2,$P3,$P4"
pair_start

# Client -> server EOF: the server reads to EOF, then answers.
bg_start "$T/sink.log" $PEER sink-server "$P1"
wait_for_log "$T/sink.log" listening 10
$PEER upload "$SOCKS_PORT" 127.0.0.1 "$P1" $((8 * 1024 * 1024)) >"$T/up.out" || fail "upload failed"
got=$(head -1 "$T/up.out") want=$(sed -n 's/^expected //p' "$T/up.out")
[ "$got" = "$want" ] || fail "client half-close: server got '$got', want '$want'"
ok "client shut down writing; server read 8 MiB to EOF and its answer came back"

# Server -> client EOF: the client reads to EOF, then sends; the server
# still receives it all.
bg_start "$T/src.log" $PEER source-server "$P2" $((4 * 1024 * 1024)) "$T/src.result"
wait_for_log "$T/src.log" listening 10
$PEER halfclose-client "$SOCKS_PORT" 127.0.0.1 "$P2" $((4 * 1024 * 1024)) $((3 * 1024 * 1024)) >"$T/hc.out" ||
	fail "half-close client failed"
got=$(awk '/^got/ {print $2, $3}' "$T/hc.out") want=$(awk '/^want/ {print $2, $3}' "$T/hc.out")
[ "$got" = "$want" ] || fail "server half-close: client got '$got', want '$want'"
for i in $(seq 100); do [ -s "$T/src.result" ] && break; sleep 0.1; done
sent=$(awk '/^sent/ {print $2, $3}' "$T/hc.out")
[ "$(cat "$T/src.result" 2>/dev/null)" = "$sent" ] ||
	fail "after the server's EOF, it got '$(cat "$T/src.result" 2>/dev/null)', client sent '$sent'"
ok "server shut down writing; 3 MiB still flowed client -> server"

# Server reset reaches the client as a reset.
bg_start "$T/rst.log" $PEER rst-server "$P3"
wait_for_log "$T/rst.log" listening 10
out=$($PEER rst-client "$SOCKS_PORT" 127.0.0.1 "$P3")
[ "$out" = reset ] || fail "server reset seen by the client as '$out'"
ok "server abort reached the client as a reset"

# Client reset reaches the server as a reset.
bg_start "$T/wr.log" $PEER wait-reset-server "$P4"
wait_for_log "$T/wr.log" listening 10
$PEER abort-client "$SOCKS_PORT" 127.0.0.1 "$P4"
wait_for_log "$T/wr.log" "^(reset|eof|timeout)" 25
grep -qx reset "$T/wr.log" || fail "client reset seen by the server as '$(tail -1 "$T/wr.log")'"
ok "client abort reached the server as a reset"
