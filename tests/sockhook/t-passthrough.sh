#!/bin/bash
# A program that only touches unrouted destinations (another loopback
# port, UDP, a UNIX socket) behaves as without the hook, and the esp
# never sees a connection from it.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/common.sh"
need_cmd curl python3
sh_pair
ROUTED_PORT=$HTTP_PORT
http_start "$T/www" # a second server, on a port no route names
[ "$HTTP_PORT" != "$ROUTED_PORT" ] || fail "same port twice"
before=$(esp_clients)

SOCKHOOK_DEBUG=1 hooked curl -sS -o "$T/direct.out" \
    "http://127.0.0.1:$HTTP_PORT/blob" 2>"$T/debug.log" || fail "direct curl failed"
[ "$(sha "$T/direct.out")" = "$BLOB_SHA" ] || fail "direct curl: SHA-256 differs"
for mode in block poll epoll epoll-pre; do
	SOCKHOOK_DEBUG=1 hooked "$NB" "$mode" 127.0.0.1 "$HTTP_PORT" /blob \
	    >"$T/$mode.out" 2>>"$T/debug.log" || fail "$mode direct failed"
	[ "$(sha "$T/$mode.out")" = "$BLOB_SHA" ] || fail "$mode direct: SHA-256 differs"
done
# An unrouted closed port: the kernel's own ECONNREFUSED.
expect_errno ECONNREFUSED hooked "$NB" poll 127.0.0.1 "$(free_port)" /

SOCKHOOK_DEBUG=1 hooked python3 - "$T/unix.sock" 2>>"$T/debug.log" <<'PY' || fail "udp/unix failed"
import socket, sys
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.bind(("127.0.0.1", 0))
c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
c.connect(u.getsockname())
c.send(b"ping")
assert u.recv(16) == b"ping"
c.sendto(b"pong", u.getsockname())
assert u.recv(16) == b"pong"
l = socket.socket(socket.AF_UNIX)
l.bind(sys.argv[1]); l.listen(1)
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
a, _ = l.accept()
s.sendall(b"hello"); assert a.recv(5) == b"hello"
print("udp and unix sockets work")
PY

[ "$(esp_clients)" = "$before" ] ||
    fail "the esp saw $(($(esp_clients) - before)) connections from unrouted traffic"
! grep -q "through the esp" "$T/debug.log" || fail "sockhook sent unrouted traffic to the esp"
ok "unrouted TCP, UDP and UNIX traffic went direct; the esp saw nothing"
