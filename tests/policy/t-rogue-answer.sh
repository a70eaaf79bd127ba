#!/bin/bash
# The esp neutralises what it refuses itself, whatever the isp let
# through: a test isp with valid credentials answers a client's PASV
# with "227 ... (127,0,0,1,0,25)", a port the rules refuse (below 1024).
# The client gets port 0, whether it asked for the server by address
# (the server's address, port 0) or by name (0.0.0.0, port 0: the esp
# does not know the address the isp reached): never the 227 as sent.
. "$(dirname "$0")/../lib.sh"
ROGUE=$TOP/build/tests/policy/rogue_isp
[ -x "$ROGUE" ] || fail "$ROGUE is not built (make tests)"
FTP_PORT=$(free_port)
{
	printf 'rules-file=ftp.ini\n\n'
	sed -E "s/^(ports *= *).*/\1$FTP_PORT/" "$TOP/rules/ftp.ini"
} >"$T/rules.cfg"
write_psk "$T/pair.psk"
ESP_ADDR=127.0.0.1 SOCKS_ADDR=127.0.0.1 SESSION_PORT=$(free_port) SOCKS_PORT=$(free_port)
esp_conf "$T/esp.conf"
esp_start
wait_for_log "$ESP_LOG" "listening for SOCKS5" 10
isp_conf "$T/rogue.conf"
bg_start "$T/rogue.out" "$ROGUE" "$T/rogue.conf" "127.0.0.1:$SESSION_PORT" \
	'allow=127.0.0.1/32 localhost\n' 'policy\nanonymous\t1\t1\t*\t127.0.0.1/32 localhost\n' \
	'rules-reset\n' "@$T/rules.cfg" 'answer=227 Entering Passive Mode (127,0,0,1,0,25).\r\n'
wait_for_log "$ESP_LOG" 'rules "ftp.ini" loaded' 15
export TESTS
for host in 127.0.0.1 localhost; do
	python3 - "$SOCKS_PORT" "$host" "$FTP_PORT" >"$T/client-$host.out" 2>&1 <<'PY' || fail "client by $host: $(cat "$T/client-$host.out")"
import os, sys
sys.path.insert(0, os.environ["TESTS"] + "/tools")
from peer import socks_connect
s, code = socks_connect(int(sys.argv[1]), sys.argv[2], int(sys.argv[3]))
print("socks", code, flush=True)
s.sendall(b"PASV\r\n")
s.settimeout(5)
buf = b""
while not buf.endswith(b"\n"):
    d = s.recv(4096)
    if not d:
        break
    buf += d
print("reply", buf, flush=True)
PY
done
grep -qx "socks 0" "$T/client-127.0.0.1.out" || fail "by address: $(cat "$T/client-127.0.0.1.out")"
grep -qx "socks 0" "$T/client-localhost.out" || fail "by name: $(cat "$T/client-localhost.out")"
grep -qxF "reply b'227 Entering Passive Mode (127,0,0,1,0,0).\\r\\n'" "$T/client-127.0.0.1.out" ||
	fail "by address, the client got: $(cat "$T/client-127.0.0.1.out")"
grep -qxF "reply b'227 Entering Passive Mode (0,0,0,0,0,0).\\r\\n'" "$T/client-localhost.out" ||
	fail "by name, the client got: $(cat "$T/client-localhost.out")"
for host in 127.0.0.1 localhost; do
	grep -q " -> $host:$FTP_PORT: refused announcement \"227 Entering Passive Mode (127,0,0,1,0,25)..r.n\": announced port 25 is below 1024" "$ESP_LOG" ||
		fail "the esp did not log the refusal for $host: $(grep 'refused announcement' "$ESP_LOG")"
done
ok "a 227 to port 25 let through by a test isp: the client gets port 0, by address (127.0.0.1) and by name (0.0.0.0)"
