#!/bin/bash
# A taken-over esp that never answers the OUTSIDE_OPEN a client's PORT
# asks for holds nothing for good: after [isp] listen_timeout the isp
# gives up as on a refusal, tells the server port 0, and frees the place
# the opening held under reverse_per_channel, so the next PORT on the same
# control connection is asked for again (at a limit of 1).
. "$(dirname "$0")/../lib.sh"
ROGUE=$TOP/build/tests/policy/rogue_esp
[ -x "$ROGUE" ] || fail "$ROGUE is not built (make tests)"
FTP_PORT=$(free_port)
mkdir -p "$T/rules"
sed -E "s/^(ports *= *).*/\1$FTP_PORT/" "$TOP/rules/ftp.ini" >"$T/rules/ftp.ini"
bg_start "$T/srv.out" python3 "$TESTS/tools/linesrv.py" "$FTP_PORT" "$T/srv.log"
wait_for_log "$T/srv.out" listening 10
write_psk "$T/pair.psk"
ESP_ADDR=127.0.0.1 SOCKS_ADDR=127.0.0.1 SESSION_PORT=$(free_port) SOCKS_PORT=$(free_port)
esp_conf "$T/rogue.conf"
ALLOW="127.0.0.1/32:$FTP_PORT"
ISP_EXTRA="rules = $T/rules
listen_timeout = 2s
reverse_per_channel = 1"
isp_conf "$T/isp.conf"
ROGUE_SEND=$'PORT 127,0,0,1,39,16\r\nPORT 127,0,0,1,39,17\r\n' ROGUE_HOLD=9 \
	bg_start "$T/rogue.log" "$ROGUE" "$T/rogue.conf" "$SESSION_PORT" - "127.0.0.1:$FTP_PORT"
wait_for_log "$T/rogue.log" listening 10
isp_start
wait_for_log "$T/rogue.log" "^sent$" 15
wait_for_log "$T/rogue.log" "outside open asked for 127.0.0.1:10000" 5
wait_for_log "$ISP_LOG" "reverse 127.0.0.1:10000 for channel [0-9]*: the esp did not answer within 2000 ms; the peer's connection will fail" 6
wait_for_log "$T/rogue.log" "outside open asked for 127.0.0.1:10001" 5
wait_for_log "$ISP_LOG" "reverse 127.0.0.1:10001 for channel [0-9]*: the esp did not answer within 2000 ms" 6
wait_for_count "$T/srv.log" "^b'PORT 127,0,0,1,0,0\\\\r\\\\n'$" 2 5
grep -q "too many reverse openings" "$ISP_LOG" && fail "the first opening still held its place"
grep -q "10000\|39,16\|39,17" "$T/srv.log" && fail "the server saw an announced port: $(cat "$T/srv.log")"
ok "an OUTSIDE_OPEN never answered: after 2 s the server is told port 0 and the next PORT is asked for again, twice"
