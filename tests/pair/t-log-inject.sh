#!/bin/bash
# Logs can be trusted: a SOCKS domain name holding a newline, a carriage
# return, an escape sequence and a quote, made to look like a whole audit
# line, comes out escaped, in the one line it belongs to, in the log and in
# the audit file. No input can forge a line or move the terminal's cursor.
. "$(dirname "$0")/../lib.sh"
LOGINS="python3 $TESTS/tools/logins.py"

ALLOW="127.0.0.1/32:1"
ISP_SECTIONS="
[user alice]
password = $(pwhash alice-secret)
[policy]
anonymous = yes
"
ESP_EXTRA="[log]
audit = $T/esp-audit.log"
pair_start

forged='2026-12-03T00:00:00.000 esp[info]: audit side=esp channel=9 user=root client=10.0.0.1:1 dst=10.0.0.2:22 rule=- bytes_up=0 bytes_down=0 duration=1.000 end=done'
name="b'evil.example\\n$forged\\r\\x1b[31m\"q'"
code=$($LOGINS name "$SOCKS_PORT" "$name" 80)
[ "$code" = 8 ] || fail "reply $code, want 8 (not a host name: never resolved)"
wait_for_log "$T/esp-audit.log" "evil" 5
sleep 0.2

for f in "$ESP_LOG" "$T/esp-audit.log"; do
	grep -q $'\x1b' "$f" && fail "$(basename "$f") holds a raw ESC"
	grep -q $'\r' "$f" && fail "$(basename "$f") holds a raw CR"
	grep -q '^2026-12-03T00:00:00.000' "$f" && fail "$(basename "$f") holds a forged line"
	grep 'evil.example' "$f" | grep -vF 'evil.example\n2026-12-03T00:00:00.000 esp[info]: audit side=esp channel=9' |
		grep -q . && fail "$(basename "$f"): a line with the name is not escaped"
done
[ "$(grep -c 'evil.example' "$T/esp-audit.log")" = 1 ] || fail "audit lines: $(cat "$T/esp-audit.log")"
[ "$(wc -l <"$T/esp-audit.log")" = 1 ] || fail "the audit file has more than one line: $(cat "$T/esp-audit.log")"
grep -qF 'dst="evil.example\n2026-12-03T00:00:00.000 esp[info]: audit side=esp channel=9 user=root' "$T/esp-audit.log" ||
	fail "audit dst not quoted and escaped: $(cat "$T/esp-audit.log")"
grep -qF 'duration=1.000 end=done\r\x1b[31m\"q:80" rule=-' "$T/esp-audit.log" ||
	fail "audit dst tail not escaped: $(cat "$T/esp-audit.log")"
[ "$(grep -c 'evil.example' "$ESP_LOG")" = 1 ] || fail "log lines with the name: $(grep -c 'evil.example' "$ESP_LOG")"
grep -qF -- '-> evil.example\n2026-12-03T00:00:00.000 esp[info]: audit' "$ESP_LOG" || fail "log line not escaped"
grep -qF '\r\x1b[31m\"q:80: not a host name' "$ESP_LOG" || fail "log line tail not escaped"
ok "a name with \\n, \\r, ESC and \" makes exactly one line in the log and one in the audit file, escaped"

# The same goes for a user name in a failed login.
python3 - "$SOCKS_PORT" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.sendall(b"\x05\x01\x02")
s.recv(2)
u = b'x"\n2026-12-03T00:00:00.000 esp[info]: forged\x1b[2J'
s.sendall(bytes([1, len(u)]) + u + b"\x02pw")
print(s.recv(2).hex())
PY
wait_for_log "$ESP_LOG" 'login failed for user "x\\"\\n2026-12-03T00:00:00.000 esp\[info\]: forged\\x1b\[2J"' 10
grep -q '^2026-12-03T00:00:00.000 esp\[info\]: forged' "$ESP_LOG" && fail "a user name forged a log line"
grep -q $'\x1b' "$ESP_LOG" "$T/esp-audit.log" && fail "a raw ESC from a user name"
ok "a user name cannot forge a line either"

# The isp, which hears of both (the refusal reported, the login relayed),
# writes them escaped too.
wait_for_log "$ISP_LOG" 'event=refusal side=esp .*user="x\\"\\n2026-12-03T00:00:00.000 esp\[info\]: forged\\x1b\[2J"' 10
grep -qF 'dst="evil.example\n2026-12-03T00:00:00.000 esp[info]: audit' "$ISP_LOG" ||
	fail "the isp's line for the name is not escaped: $(grep -c evil.example "$ISP_LOG")"
grep -q '^2026-12-03T00:00:00.000' "$ISP_LOG" && fail "the isp's log holds a forged line"
grep -q $'\x1b' "$ISP_LOG" && fail "the isp's log holds a raw ESC"
grep -q $'\r' "$ISP_LOG" && fail "the isp's log holds a raw CR"
ok "the isp's log holds both, escaped, and no forged line"

# A name with a NUL byte is refused at the door like any other bad name,
# and the refusal still reaches the isp (as its port: a NUL cannot cross
# the protocol). Before, the esp sent the name as it came, the isp took
# the NOTICE for a malformed frame and ended the session: one request
# from any client took down every isp's session.
code=$($LOGINS name "$SOCKS_PORT" "b'a\\x00b'" 81)
[ "$code" = 8 ] || fail "a name with a NUL: reply $code, want 8 (not a host name)"
wait_for_log "$ISP_LOG" 'event=refusal side=esp .*dst=- .*end="not a host name"' 10
grep -q 'malformed NOTICE' "$ISP_LOG" "$ESP_LOG" && fail "a NUL in a name ended the session: $(grep 'malformed NOTICE' "$ISP_LOG" "$ESP_LOG")"
grep -q 'GOAWAY\|session .* closed' "$ESP_LOG" && fail "the esp lost its session: $(grep 'GOAWAY\|closed' "$ESP_LOG")"
code=$($LOGINS name "$SOCKS_PORT" "b'localhost'" 1)
[ "$code" = 5 ] || fail "after the NUL name, a request got reply $code, want 5 (refused by the server: the session is up)"
ok "a name with a NUL: reply 8, the isp audits the refusal by port, and the session stays up (the next request reaches the server)"
