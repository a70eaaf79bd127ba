#!/bin/bash
# IPv6 destinations: an AF_INET6 socket to a routed IPv6 address reaches
# the (IPv4) esp, asks for the IPv6 destination, and getpeername gives it
# back; also with IPV6_V6ONLY set (a new socket takes the descriptor).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/common.sh"
need_cmd python3
sh_need_build
python3 -c 'import socket; s=socket.socket(socket.AF_INET6); s.bind(("::1",0))' 2>/dev/null ||
    skip "no IPv6 loopback here"
mkdir -p "$T/www"
head -c 1048576 /dev/urandom >"$T/www/blob"
BLOB_SHA=$(sha "$T/www/blob")
http_start "$T/www" ::1
ALLOW="[::1]/128:$HTTP_PORT"
[ "$SH_MODE" = agent ] && sh_agent_setup
pair_start
printf '[sockhook]\n%s\nroute = [::1]/128:%s\n' "$(sh_door)" \
    "$HTTP_PORT" >"$T/sockhook.conf"

for mode in block poll epoll; do
	before=$(esp_clients)
	hooked "$NB" "$mode" ::1 "$HTTP_PORT" /blob >"$T/$mode.out" 2>"$T/$mode.err" ||
	    fail "$mode over IPv6 failed: $(cat "$T/$mode.err")"
	[ "$(sha "$T/$mode.out")" = "$BLOB_SHA" ] || fail "$mode: SHA-256 differs"
	grep -q "peer ::1:$HTTP_PORT" "$T/$mode.err" || fail "$mode: wrong peer"
	[ "$(esp_clients)" -gt "$before" ] || fail "$mode did not use the esp"
done
ok "IPv6 destination through the esp (block, poll, epoll); peer is [::1]"

for nb in 0 1; do
	before=$(esp_clients)
	hooked python3 - "$HTTP_PORT" "$T/v6only$nb.out" "$nb" <<'PY' || fail "V6ONLY client failed"
import socket, sys
s = socket.socket(socket.AF_INET6)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
if sys.argv[3] == "1":
    s.settimeout(20)
s.connect(("::1", int(sys.argv[1])))
assert s.getpeername()[:2] == ("::1", int(sys.argv[1])), s.getpeername()
assert s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
s.sendall(b"GET /blob HTTP/1.0\r\n\r\n")
data = b""
while chunk := s.recv(65536):
    data += chunk
open(sys.argv[2], "wb").write(data.split(b"\r\n\r\n", 1)[1])
PY
	[ "$(sha "$T/v6only$nb.out")" = "$BLOB_SHA" ] || fail "V6ONLY: SHA-256 differs"
	[ "$(esp_clients)" -gt "$before" ] || fail "V6ONLY did not use the esp"
done
ok "IPV6_V6ONLY sockets (blocking and with timeout) keep TCP_NODELAY and the peer"
