#!/bin/bash
# Connection setup without waiting where SOCKS5 allows it: with no user,
# sockhook sends the greeting (offering only "no login") and the request
# in one write; with a user, the login and the request go in one write
# once the server has chosen RFC 1929. A fixture server notes what had
# arrived before each of its answers. The real esp takes such pipelined
# input too, with the first data right behind the request.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/common.sh"
need_cmd python3 curl
sh_pair
url=http://127.0.0.1:$HTTP_PORT/blob

bg_start "$T/fix.log" python3 "$(dirname "$0")/pipecheck.py" alice pw
i=0
while [ $i -lt 100 ] && ! [ -s "$T/fix.log" ]; do sleep 0.1; i=$((i + 1)); done
FIX=$(head -1 "$T/fix.log")
[ -n "$FIX" ] || fail "the fixture did not start"
printf 'pw\n' >"$T/pass"
chmod 600 "$T/pass"
printf '[sockhook]\nesp = 127.0.0.1:%s\nroute = 127.0.0.1/32:%s\n' "$FIX" "$HTTP_PORT" >"$T/anon.conf"
{ cat "$T/anon.conf"; printf 'user = alice\npassword_file = %s\n' "$T/pass"; } >"$T/login.conf"

"$BIN/sockhook" -c "$T/anon.conf" -- curl -sS -o "$T/a.out" "$url" || fail "curl, no login"
[ "$(sha "$T/a.out")" = "$BLOB_SHA" ] || fail "no login: SHA-256 differs"
[ "$(sed -n 2p "$T/fix.log")" = "first: greeting+request" ] ||
	fail "without a login: $(sed -n 2p "$T/fix.log")"
ok "no login: greeting and request in one write; SHA-256 matches"

"$BIN/sockhook" -c "$T/login.conf" -- curl -sS -o "$T/l.out" "$url" || fail "curl, login"
[ "$(sha "$T/l.out")" = "$BLOB_SHA" ] || fail "login: SHA-256 differs"
[ "$(sed -n '3,4p' "$T/fix.log" | tr '\n' ' ')" = "first: greeting then: login+request " ] ||
	fail "with a login: $(sed -n '3,4p' "$T/fix.log" | tr '\n' ' ')"
ok "login: greeting, then login and request in one write; SHA-256 matches"

# The real esp: greeting, request and an HTTP request in one write.
python3 - "$SOCKS_PORT" "$HTTP_PORT" >"$T/raw.out" 2>&1 <<'PY' || fail "pipelined client: $(cat "$T/raw.out")"
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=20)
port = int(sys.argv[2])
s.sendall(b"\x05\x01\x00" + b"\x05\x01\x00\x01\x7f\x00\x00\x01" + port.to_bytes(2, "big")
          + b"GET /blob HTTP/1.0\r\n\r\n")
got = s.recv(65536)
assert len(got) >= 12, "the replies came apart: first read %r" % got
while d := s.recv(65536):
    got += d
assert got[:2] == b"\x05\x00", got[:2]
assert got[2:5] == b"\x05\x00\x00", got[2:12]
body = got[12:].split(b"\r\n\r\n", 1)[1]
import hashlib
print(hashlib.sha256(body).hexdigest())
PY
[ "$(cat "$T/raw.out")" = "$BLOB_SHA" ] || fail "pipelined through the esp: SHA-256 differs"
ok "the esp takes greeting, request and data in one write, and answers both in one; SHA-256 matches"
