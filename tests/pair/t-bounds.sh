#!/bin/bash
# Memory and descriptors stay bounded whatever a peer does:
#  - a peer with valid credentials writes 64 MiB of PINGs and reads none
#    of the PONGs: the esp ends that session, its RSS stays low;
#  - a server on a scanned port sends 64 MiB to a client that reads
#    nothing: the isp holds no more than the channel's limits;
#  - 2000 TCP connections to the session port that never speak TLS, and
#    2000 to the SOCKS door that never finish a handshake: the esp holds
#    at most its handshake limits in descriptors, and serves again after.
. "$(dirname "$0")/../lib.sh"
ROGUE=$TOP/build/tests/policy/rogue_isp
SRV="python3 $TESTS/tools/linesrv.py"
CTL="python3 $TESTS/tools/ctlclient.py"
[ -x "$ROGUE" ] || fail "$ROGUE is not built (make tests)"
fds() { ls "/proc/$1/fd" | wc -l; }

FTP_PORT=$(free_port)
mkdir -p "$T/rules"
sed -E "s/^(ports *= *).*/\1$FTP_PORT/" "$TOP/rules/ftp.ini" >"$T/rules/ftp.ini"
bg_start "$T/srv.out" $SRV "$FTP_PORT" "$T/srv.log" flood=$((64 << 20))
wait_for_log "$T/srv.out" listening 10
ALLOW="127.0.0.1/32:$FTP_PORT"
ISP_EXTRA="rules = $T/rules"
ESP_EXTRA="max_handshakes = 100
max_session_handshakes = 16"
pair_start

# PINGs that are never answered back: the flooding session is ended.
esp0=$(rss_kb "$ESP_PID")
write_psk "$T/rogue.psk"
ISP_ID=rogue ISP_PSK=$T/rogue.psk isp_conf "$T/rogue.conf"
kill "$ESP_PID"
wait "$ESP_PID" 2>/dev/null
ESP_ISPS="test-isp:$T/pair.psk rogue:$T/rogue.psk" esp_conf "$T/esp.conf"
ESP_LOG=$T/esp2.log
esp_start
wait_for_log "$ESP_LOG" "listening for SOCKS5" 10
wait_for_log "$ESP_LOG" 'isp "test-isp" serves' 15
esp0=$(rss_kb "$ESP_PID")
timeout 60 "$ROGUE" "$T/rogue.conf" "127.0.0.1:$SESSION_PORT" pingflood=64 >"$T/rogue.out" 2>&1
wait_for_log "$ESP_LOG" "session with .* failed: the peer does not read: [0-9]+ bytes wait toward it" 10
esp1=$(peak_kb "$ESP_PID")
echo "esp RSS $esp0 KiB, peak $esp1 KiB during 64 MiB of PINGs"
[ $((esp1 - esp0)) -lt 16384 ] || fail "the esp grew by $((esp1 - esp0)) KiB under a PING flood"
grep -q 'isp "test-isp" serves' "$ESP_LOG" || fail "the honest isp's session is gone"
ok "64 MiB of unread PONGs: the session is ended, the esp grew $((esp1 - esp0)) KiB"

# A server flooding a client that reads nothing, on a scanned port.
isp0=$(rss_kb "$ISP_PID")
$CTL "$SOCKS_PORT" "$FTP_PORT" idle 8 >"$T/idle.out" &
CP=$!
# The highest RSS while it lasts (the peak mark holds start-up's scrypt).
isp1=$isp0
for i in $(seq 30); do
	r=$(rss_kb "$ISP_PID")
	[ "$r" -gt "$isp1" ] && isp1=$r
	sleep 0.2
done
grep -q "flood sent" "$T/srv.log" && fail "all 64 MiB went somewhere: $(cat "$T/srv.log")"
wait $CP
echo "isp RSS $isp0 -> $isp1 KiB with 64 MiB sent to a reader that reads nothing"
[ $((isp1 - isp0)) -lt 8192 ] || fail "the isp grew by $((isp1 - isp0)) KiB"
ok "a server sending 64 MiB to a client that reads nothing: the isp grew $((isp1 - isp0)) KiB"

# Handshakes that never finish.
base=$(fds "$ESP_PID")
python3 - "$SESSION_PORT" "$SOCKS_PORT" >"$T/hs.out" 2>&1 <<'PY' &
import socket, sys, time
held = []
for port in (int(sys.argv[1]), int(sys.argv[2])):
    for _ in range(2000):
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            held.append(s)
        except OSError:
            pass
print("opened", len(held), flush=True)
time.sleep(4)
PY
HS=$!
wait_for_log "$T/hs.out" opened 60
peak=$(fds "$ESP_PID")
wait $HS
echo "esp descriptors $base, with 4000 silent connections: $peak ($(cat "$T/hs.out"))"
[ $((peak - base)) -le 130 ] || fail "the esp holds $((peak - base)) more descriptors"
[ $((peak - base)) -ge 100 ] || fail "the esp held only $((peak - base)) more descriptors: the flood did not reach it"
grep -q "sessions in their handshake (\[esp\] max_session_handshakes" "$ESP_LOG" ||
	fail "no log line for refused session handshakes"
grep -q "socks: too many clients in handshake" "$ESP_LOG" || fail "no log line for refused SOCKS handshakes"
sleep 1
code=$(python3 "$TESTS/tools/peer.py" reply "$SOCKS_PORT" 127.0.0.1 "$FTP_PORT")
[ "$code" = 0 ] || fail "the door does not serve after the flood: reply $code"
ok "4000 silent connections: the esp held $((peak - base)) more descriptors at most, and serves again"
