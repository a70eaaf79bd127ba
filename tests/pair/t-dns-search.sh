#!/bin/bash
# A name rule allows a name, and only that name resolves: the isp looks
# names up as given, never with resolv.conf's search list. With
# "search test.internal" and a name server (a stub here) that knows
# y.allowed.example and x.allowed.example.test.internal but not
# x.allowed.example, under an allow rule .allowed.example:
#  - y.allowed.example is served (reply 0, the server gets the connection);
#  - x.allowed.example gets reply 4 and nothing is connected, where the
#    search list would have connected to x.allowed.example.test.internal.
. "$(dirname "$0")/../lib.sh"
[ "$(id -u)" = 0 ] || skip "needs root (a private mount namespace for resolv.conf)"
need_cmd unshare python3
SRV_PORT=$(free_port)
DNS_PORT=$(free_port)
cat >"$T/dns.py" <<'PY'
import socket, struct, sys
names = {b"y.allowed.example": "127.0.0.1", b"x.allowed.example.test.internal": "127.0.0.1"}
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", int(sys.argv[1])))
print("listening", flush=True)
s.settimeout(60)
while True:
    try:
        q, peer = s.recvfrom(512)
    except socket.timeout:
        break
    tid, flags, qd = struct.unpack(">HHH", q[:6])
    i, labels = 12, []
    while q[i]:
        labels.append(q[i + 1:i + 1 + q[i]])
        i += 1 + q[i]
    qtype = struct.unpack(">H", q[i + 1:i + 3])[0]
    question = q[12:i + 5]
    name = b".".join(labels).lower()
    print("query", name.decode(), qtype, flush=True)
    if name in names and qtype == 1:
        ans = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 60, 4) + socket.inet_aton(names[name])
        s.sendto(struct.pack(">HHHHHH", tid, 0x8180, 1, 1, 0, 0) + question + ans, peer)
    elif name in names:
        s.sendto(struct.pack(">HHHHHH", tid, 0x8180, 1, 0, 0, 0) + question, peer)
    else:
        s.sendto(struct.pack(">HHHHHH", tid, 0x8183, 1, 0, 0, 0) + question, peer)
PY
bg_start "$T/dns.log" python3 "$T/dns.py" "$DNS_PORT"
wait_for_log "$T/dns.log" listening 10
bg_start "$T/srv.log" python3 -c '
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(8); print("listening", flush=True)
s.settimeout(30)
while True:
    try:
        c, a = s.accept()
    except socket.timeout:
        break
    print("connection", flush=True); c.close()
' "$SRV_PORT"
wait_for_log "$T/srv.log" listening 10
printf 'nameserver 127.0.0.1:%s\nsearch test.internal\noptions ndots:1\n' "$DNS_PORT" >"$T/resolv.conf"

ALLOW=".allowed.example:$SRV_PORT"
ESP_ADDR=127.0.0.1 SOCKS_ADDR=127.0.0.1 SESSION_PORT=$(free_port) SOCKS_PORT=$(free_port)
write_psk "$T/pair.psk"
esp_conf "$T/esp.conf"
isp_conf "$T/isp.conf"
esp_start
wait_for_log "$ESP_LOG" "listening for SOCKS5" 10
ISP_LOG=$T/isp.log
bg_start "$ISP_LOG" unshare --mount --propagation private sh -c \
	"mount --bind '$T/resolv.conf' /etc/resolv.conf && exec '$BIN/isp' -v -c '$T/isp.conf'"
ISP_PID=$BG_PID
wait_for_log "$ISP_LOG" "session with .* up" 15
wait_for_log "$ESP_LOG" "isp \".*\" serves" 10

y=$(python3 "$TESTS/tools/peer.py" reply "$SOCKS_PORT" y.allowed.example "$SRV_PORT")
[ "$y" = 0 ] || fail "y.allowed.example: reply $y, wanted 0"
wait_for_log "$T/srv.log" "^connection$" 5
grep -q "^query y.allowed.example 1$" "$T/dns.log" || fail "the stub was not asked: $(cat "$T/dns.log")"
ok "y.allowed.example, which the name server knows, is served through the stub (reply 0)"

x=$(python3 "$TESTS/tools/peer.py" reply "$SOCKS_PORT" x.allowed.example "$SRV_PORT")
sleep 0.5
[ "$x" = 4 ] || fail "x.allowed.example: reply $x, wanted 4 (host unreachable)"
grep -q "^query x.allowed.example 1$" "$T/dns.log" || fail "x.allowed.example was not looked up: $(cat "$T/dns.log")"
grep -q "test.internal" "$T/dns.log" && fail "the isp used the search list: $(grep test.internal "$T/dns.log")"
[ "$(grep -c '^connection$' "$T/srv.log")" = 1 ] || fail "x.allowed.example was connected to"
ok "x.allowed.example, unknown as given: reply 4, the search list is not tried, nothing connected"
