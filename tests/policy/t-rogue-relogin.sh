#!/bin/bash
# An isp's unasked LOGIN_REPLY (reference 0) means only "I ended my
# login N": refused, with a login number. Anything else that answers no
# LOGIN is a protocol error that ends the isp's session; the well-formed
# one, for a login nobody holds, changes nothing.
. "$(dirname "$0")/../lib.sh"
ROGUE=$TOP/build/tests/policy/rogue_isp
[ -x "$ROGUE" ] || fail "$ROGUE is not built (make tests)"

write_psk "$T/isp-b.psk"
export ESP_ISPS="isp-b:$T/isp-b.psk"
ESP_ADDR=127.0.0.1 SOCKS_ADDR=127.0.0.1
SESSION_PORT=$(free_port) SOCKS_PORT=$(free_port)
esp_conf "$T/esp.conf"
esp_start
wait_for_log "$ESP_LOG" "listening for SOCKS5" 10
ISP_ID=isp-b ALLOW="127.0.0.2/32" ISP_PSK=$T/isp-b.psk isp_conf "$T/isp-b.conf"

# rogue NAME ARG...: the rogue isp's run, into $T/NAME.log.
rogue() {
	local name=$1
	shift
	"$ROGUE" "$T/isp-b.conf" "127.0.0.1:$SESSION_PORT" 'allow=127.0.0.2/32\n' "$@" \
		>"$T/$name.log" 2>&1
}

rogue ended 'loginreply=2:4660' 'allow=127.0.0.2/32\n'
grep -qx "sent loginreply 2:4660" "$T/ended.log" || fail "rogue: $(cat "$T/ended.log")"
grep -qx "sent config 3" "$T/ended.log" || fail "the session ended after a well-formed notice: $(cat "$T/ended.log")"
grep -q "goaway [0-9]" "$T/ended.log" && fail "the esp ended the session: $(cat "$T/ended.log")"
wait_for_count "$ESP_LOG" 'isp "isp-b" serves 1 allow rules' 2 5
ok "an isp ending a login nobody holds changes nothing"

for bad in 0:4660 1:4660 3:4660 2:0; do
	rogue "bad-${bad/:/-}" "loginreply=$bad" 'allow=127.0.0.2/32\n'
	grep -q 'closed: .*goaway 1$' "$T/bad-${bad/:/-}.log" ||
		fail "LOGIN_REPLY $bad without a LOGIN was not refused: $(cat "$T/bad-${bad/:/-}.log")"
	grep -qx "sent config 3" "$T/bad-${bad/:/-}.log" && fail "the esp took a CONFIG after LOGIN_REPLY $bad"
done
n=$(count_log "$ESP_LOG" "LOGIN_REPLY without a LOGIN")
[ "$n" -ge 4 ] || fail "the esp logged $n of 4 refusals: $(grep -i login_reply "$ESP_LOG")"
ok "a LOGIN_REPLY without a LOGIN that is not a refusal with a login number ends the isp's session ($n refused)"
