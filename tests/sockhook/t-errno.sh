#!/bin/bash
# Failures through the esp give the errno a direct connect would: a
# refused port ECONNREFUSED, a destination outside the isp's allow list
# EACCES, no session ENETUNREACH; blocking and non-blocking alike.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/common.sh"
sh_pair

for mode in block poll epoll; do
	before=$(esp_clients)
	expect_errno ECONNREFUSED hooked "$NB" "$mode" 127.0.0.1 "$CLOSED_PORT" /
	[ "$(esp_clients)" -gt "$before" ] || fail "$mode: refusal did not come from the esp"
	ok "$mode: refused inside port gives ECONNREFUSED"
	expect_errno EACCES hooked "$NB" "$mode" 127.0.0.2 "$HTTP_PORT" /
	ok "$mode: destination outside the isp's allow list gives EACCES"
done

# The same port, direct: the kernel's own answer, for comparison.
expect_errno ECONNREFUSED "$NB" block 127.0.0.1 "$CLOSED_PORT" /

# After a failed blocking connect the socket can be used again, and a
# later successful connect works (Python retries on the same socket).
hooked python3 - "$CLOSED_PORT" "$HTTP_PORT" <<'PY' || fail "python errno checks failed"
import errno, socket, sys
s = socket.socket()
try:
    s.connect(("127.0.0.1", int(sys.argv[1])))
    raise SystemExit("refused port connected")
except ConnectionRefusedError:
    pass
s.close()
s = socket.socket()
s.settimeout(20)
try:
    s.connect(("127.0.0.2", int(sys.argv[2])))
    raise SystemExit("policy refusal connected")
except PermissionError as e:
    assert e.errno == errno.EACCES, e
s.close()
print("python: ECONNREFUSED and EACCES")
PY
ok "python sees ConnectionRefusedError and PermissionError"

# No session: stop the isp, the esp answers "network unreachable".
kill "$ISP_PID"
wait_for_log "$ESP_LOG" "session with .* closed" 15
for mode in block poll epoll; do
	expect_errno ENETUNREACH hooked "$NB" "$mode" 127.0.0.1 "$HTTP_PORT" /
	ok "$mode: no session gives ENETUNREACH"
done

# No esp at all: also ENETUNREACH, never a direct connection.
kill "$ESP_PID"
sleep 0.3
for mode in block poll; do
	expect_errno ENETUNREACH hooked "$NB" "$mode" 127.0.0.1 "$HTTP_PORT" /
done
ok "esp down gives ENETUNREACH, nothing goes direct"
