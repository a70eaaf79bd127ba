#!/bin/bash
# A stream the rule scanner refuses ends in a reset, never in a clean
# close, even when its end comes in the same read: a test esp writes a
# PORT line that grows past the holdback and ends its side at once (the
# DATA and the FIN arrive together). The isp resets the connection to
# the server, which sees a reset and none of the PORT line, not an EOF
# that would make a cut stream look whole.
. "$(dirname "$0")/../lib.sh"
ROGUE=$TOP/build/tests/policy/rogue_esp
[ -x "$ROGUE" ] || fail "$ROGUE is not built (make tests)"
FTP_PORT=$(free_port)
mkdir -p "$T/rules"
sed -E "s/^(ports *= *).*/\1$FTP_PORT/" "$TOP/rules/ftp.ini" >"$T/rules/ftp.ini"
bg_start "$T/srv.log" python3 -c '
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(8); print("listening", flush=True)
s.settimeout(30)
c, _ = s.accept()
c.settimeout(10)
got = b""
try:
    c.sendall(b"220 test server\r\n")
    while True:
        d = c.recv(65536)
        if not d:
            print("eof after %d bytes: %r" % (len(got), got[:40]), flush=True)
            break
        got += d
except (ConnectionResetError, BrokenPipeError):
    print("reset after %d bytes" % len(got), flush=True)
' "$FTP_PORT"
wait_for_log "$T/srv.log" listening 10
write_psk "$T/pair.psk"
ESP_ADDR=127.0.0.1 SOCKS_ADDR=127.0.0.1 SESSION_PORT=$(free_port) SOCKS_PORT=$(free_port)
esp_conf "$T/rogue.conf"
ALLOW="127.0.0.1/32:$FTP_PORT"
ISP_EXTRA="rules = $T/rules"
isp_conf "$T/isp.conf"
spaces=$(printf '%6000s' '')
ROGUE_SEND="PORT$spaces" ROGUE_SEND_FIN=1 ROGUE_HOLD=4 \
	bg_start "$T/rogue.log" "$ROGUE" "$T/rogue.conf" "$SESSION_PORT" - "127.0.0.1:$FTP_PORT"
wait_for_log "$T/rogue.log" listening 10
isp_start
wait_for_log "$T/rogue.log" "^sent$" 15
wait_for_log "$T/srv.log" "^(reset|eof) after" 10
grep -q "longer than the holdback (4096 bytes); resetting the connection" "$ISP_LOG" ||
	fail "the isp did not refuse the stream: $(grep -i holdback "$ISP_LOG")"
grep -q "^reset after [0-9]* bytes$" "$T/srv.log" || fail "the server saw: $(cat "$T/srv.log")"
n=$(sed -n 's/^reset after \([0-9]*\) bytes$/\1/p' "$T/srv.log")
[ "$n" = 0 ] || fail "the server got $n bytes of the PORT line"
ok "a PORT past the holdback with the FIN in the same read: the server sees a reset after $n bytes, not an EOF"
