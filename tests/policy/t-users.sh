#!/bin/bash
# Users and their destinations, owned by the isp: each user reaches what
# the policy gives them and gets SOCKS reply 2 (and an audit line) for the
# rest; a wrong password or no login is refused. Real curl logs in.
. "$(dirname "$0")/../lib.sh"
PEER="python3 $TESTS/tools/peer.py"

mkdir -p "$T/a" "$T/b"
head -c 300000 /dev/urandom >"$T/a/f"
head -c 300000 /dev/urandom >"$T/b/f"
http_start "$T/a"
PA=$HTTP_PORT
http_start "$T/b"
PB=$HTTP_PORT
ALLOW="127.0.0.1/32:1"
ISP_SECTIONS="
[policy]
anonymous = no
[group web-a]
allow = 127.0.0.1/32:$PA
[user alice]
password = $(pwhash alice-secret)
groups = web-a
[user bob]
password = $(pwhash bob-secret)
allow = 127.0.0.1/32:$PB
"
pair_start
wait_for_log "$ESP_LOG" "policy: 2 users, anonymous refused" 10

fetch() { # USER PASS PORT FILE
	rm -f "$T/out"
	curl -sS --fail --max-time 30 --proxy "socks5h://$1:$2@127.0.0.1:$SOCKS_PORT" \
		-o "$T/out" "http://127.0.0.1:$3/f" 2>"$T/curl.err"
}
fetch alice alice-secret "$PA" || fail "alice to her destination: $(cat "$T/curl.err")"
[ "$(sha "$T/out")" = "$(sha "$T/a/f")" ] || fail "alice: SHA-256 differs"
fetch bob bob-secret "$PB" || fail "bob to his destination: $(cat "$T/curl.err")"
[ "$(sha "$T/out")" = "$(sha "$T/b/f")" ] || fail "bob: SHA-256 differs"
ok "alice (via her group) and bob each reach their own destination with curl"

code=$($PEER reply "$SOCKS_PORT" 127.0.0.1 "$PB" alice alice-secret)
[ "$code" = 2 ] || fail "alice to bob's destination: reply $code, want 2"
wait_for_log "$ESP_LOG" "audit ts=[^ ]+ event=refusal side=esp channel=- user=alice client=127.0.0.1:[0-9]+ dst=127.0.0.1:$PB .*end=\"not allowed by policy\"" 5
code=$($PEER reply "$SOCKS_PORT" 127.0.0.1 "$PA" bob bob-secret)
[ "$code" = 2 ] || fail "bob to alice's destination: reply $code, want 2"
wait_for_log "$ESP_LOG" "audit ts=[^ ]+ event=refusal side=esp channel=- user=bob .*dst=127.0.0.1:$PA .*end=\"not allowed by policy\"" 5
ok "each forbidden destination: reply 2 and an audit line"

out=$($PEER reply "$SOCKS_PORT" 127.0.0.1 "$PA" alice Wr0ng-pw-7Q 2>&1)
[ "$out" = "login: refused (0101)" ] || fail "wrong password: $out"
fetch alice Wr0ng-pw-7Q "$PA" && fail "curl with a wrong password succeeded"
grep -q 'login failed for user "alice"' "$ESP_LOG" || fail "no log line for the failed login"
grep -q "Wr0ng-pw-7Q" "$ESP_LOG" "$ISP_LOG" && fail "a password appears in a log"
ok "wrong password refused (RFC 1929 status 1), never logged"

out=$($PEER reply "$SOCKS_PORT" 127.0.0.1 "$PA" 2>&1)
[ "$out" = "socks: method refused" ] || fail "no credentials: $out"
curl -sS --max-time 10 --socks5-hostname "127.0.0.1:$SOCKS_PORT" "http://127.0.0.1:$PA/f" -o /dev/null 2>/dev/null &&
	fail "curl without credentials succeeded"
ok "no credentials refused (no acceptable method)"

# A client that knows the method sends it all in one write: greeting
# (0x02 only), login, request and its first data; the esp holds the
# request and the data while the isps check the login.
python3 - "$SOCKS_PORT" "$PA" >"$T/raw.out" <<'PY' || fail "pipelined login: $(cat "$T/raw.out")"
import hashlib, socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=20)
port = int(sys.argv[2])
login = b"\x01\x05alice\x0calice-secret"
s.sendall(b"\x05\x01\x02" + login + b"\x05\x01\x00\x01\x7f\x00\x00\x01"
          + port.to_bytes(2, "big") + b"GET /f HTTP/1.0\r\n\r\n")
got = s.recv(65536)
assert len(got) >= 14, "the replies came apart: first read %r" % got
while d := s.recv(65536):
    got += d
assert got[:4] == b"\x05\x02\x01\x00", got[:4]
assert got[4:7] == b"\x05\x00\x00", got[4:14]
print(hashlib.sha256(got[14:].split(b"\r\n\r\n", 1)[1]).hexdigest())
PY
[ "$(cat "$T/raw.out")" = "$(sha "$T/a/f")" ] || fail "pipelined login: SHA-256 differs"
ok "greeting, login, request and data in one write: the esp's three answers come in one; SHA-256 matches"

# Audit lines for completed channels: user, client, destination, bytes, end.
wait_for_log "$ESP_LOG" "audit ts=[^ ]+ event=channel side=esp channel=[0-9]+ user=alice client=127.0.0.1:[0-9]+ dst=127.0.0.1:$PA rule=- bytes_up=[0-9]+ bytes_down=30[0-9]{4} duration=[0-9.]+ parent=- isp=test-isp peer=test-isp end=done" 5
wait_for_log "$ISP_LOG" "audit ts=[^ ]+ event=channel side=isp channel=[0-9]+ user=bob client=127.0.0.1:[0-9]+ dst=127.0.0.1:$PB rule=- bytes_up=[0-9]+ bytes_down=30[0-9]{4} duration=[0-9.]+ parent=- isp=test-isp peer=psk end=done" 5
ok "audit lines on both sides for completed channels"
grep -q "secret" "$ESP_LOG" "$ISP_LOG" && fail "a password appears in a log"
ok "no password in any log"
