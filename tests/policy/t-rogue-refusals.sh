#!/bin/bash
# A taken-over esp cannot fill the isp's log: it may send OPENs the isp
# refuses as fast as it likes, and the isp logs and audits 50 refusals a
# second, counts the rest in its metrics and says so once a second. Every
# OPEN is still answered, and refused.
. "$(dirname "$0")/../lib.sh"
need_cmd curl
ROGUE=$TOP/build/tests/policy/rogue_esp
[ -x "$ROGUE" ] || fail "$ROGUE is not built (make tests)"
PB=$(free_port) # nothing is ever connected there: every open is refused
write_psk "$T/pair.psk"
ESP_ADDR=127.0.0.1 SOCKS_ADDR=127.0.0.1 SESSION_PORT=$(free_port) SOCKS_PORT=$(free_port)
esp_conf "$T/rogue.conf"
IM=$(free_port)
ALLOW="127.0.0.1/32:1"
ISP_EXTRA="[metrics]
listen = 127.0.0.1:$IM
[isp]"
ISP_SECTIONS="
[policy]
anonymous = no
"
isp_conf "$T/isp.conf"
# 400 anonymous OPENs and 200 for a user nobody knows, all at once.
set --
for i in $(seq 400); do set -- "$@" - "127.0.0.1:$PB"; done
for i in $(seq 200); do set -- "$@" mallory "127.0.0.1:$PB"; done
ROGUE_PARALLEL=1 bg_start "$T/rogue.log" "$ROGUE" "$T/rogue.conf" "$SESSION_PORT" "$@"
wait_for_log "$T/rogue.log" listening 10
isp_start
wait_for_count "$T/rogue.log" ": [0-9]+$" 600 30
n=$(grep -c "^- 127.0.0.1:$PB: 2$" "$T/rogue.log")
m=$(grep -c "^mallory 127.0.0.1:$PB: 2$" "$T/rogue.log")
[ "$n" = 400 ] && [ "$m" = 200 ] || fail "answers: $n of 400 anonymous and $m of 200 unknown-user opens refused"
ok "600 OPENs at once: every one answered, refused (reply 2)"

logged=$(count_log "$ISP_LOG" "open 127.0.0.1:4242 -> 127.0.0.1:$PB refused: not allowed by policy")
audited=$(count_log "$ISP_LOG" "audit .*event=channel side=isp .*dst=127.0.0.1:$PB .*end=\"not allowed by policy\"")
why=$(count_log "$ISP_LOG" "open 127.0.0.1:4242 -> 127.0.0.1:$PB: (anonymous access is off|unknown user)")
lines=$(grep -vc "isp\[debug\]" "$ISP_LOG") # -v: debug lines are asked for
[ "$logged" -ge 50 ] && [ "$logged" -le 150 ] || fail "$logged refusals logged of 600 (50 a second)"
[ "$audited" = "$logged" ] || fail "$audited audit lines for $logged logged refusals"
[ "$why" = "$logged" ] || fail "$why reasons logged for $logged refusals"
[ "$lines" -le 500 ] || fail "the isp's log has $lines lines"
grep -q "isp\[warn\]: more than 50 opens refused a second: the rest are counted (dynpass_refusals_total), not logged or audited ([0-9]* more like it in the second before)" "$ISP_LOG" ||
	fail "the isp did not say that it left refusals out"
total=$(metric "$IM" 'dynpass_refusals_total{reason="not_allowed"}')
[ "$total" = 600 ] || fail "dynpass_refusals_total{reason=\"not_allowed\"} is $total, want 600"
ok "the isp logged and audited $logged of them ($lines lines in all, not counting debug), said it left the rest out, and counted all 600"
