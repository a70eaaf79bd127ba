#!/bin/bash
# One identity per isp, and it is what TLS proves, never what CONFIG says:
#  - an isp with valid credentials that claims another isp's id in CONFIG
#    stays itself, and the other isp's session is untouched;
#  - claiming another isp's networks is refused, at the first CONFIG and
#    at any later one (a reload cannot grow into them);
#  - two isps left at one id do not take turns: the newer session is
#    refused while the older answers a probe, and takes over only once
#    the older one is found dead. Session replacements are counted.
. "$(dirname "$0")/../lib.sh"
ROGUE=$TOP/build/tests/policy/rogue_isp
[ -x "$ROGUE" ] || fail "$ROGUE is not built (make tests)"

for id in isp-a isp-b; do write_psk "$T/$id.psk"; done
export ESP_ISPS="isp-a:$T/isp-a.psk isp-b:$T/isp-b.psk"
ESP_ADDR=127.0.0.1 SOCKS_ADDR=127.0.0.1
SESSION_PORT=$(free_port) SOCKS_PORT=$(free_port)
RECONNECT_MAX=2s
esp_conf "$T/esp.conf"
esp_start
wait_for_log "$ESP_LOG" "listening for SOCKS5" 10
ISP_ID=isp-a ALLOW="127.0.0.1/32" ISP_PSK=$T/isp-a.psk isp_conf "$T/isp-a.conf"
bg_start "$T/isp-a.log" "$BIN/isp" -v -c "$T/isp-a.conf"
ISP_A=$BG_PID
wait_for_log "$ESP_LOG" 'isp "isp-a" serves 1 allow rules' 10

# isp-b's credentials, and a CONFIG that says it is isp-a.
ISP_ID=isp-b ALLOW="127.0.0.2/32" ISP_PSK=$T/isp-b.psk isp_conf "$T/isp-b.conf"
"$ROGUE" "$T/isp-b.conf" "127.0.0.1:$SESSION_PORT" 'id=isp-a\nallow=127.0.0.2/32\n' >"$T/rogue1.log" 2>&1
grep -q '^done' "$T/rogue1.log" || fail "rogue isp: $(cat "$T/rogue1.log")"
grep -q 'isp says it is "isp-a"; it proved "isp-b", and that is its id' "$ESP_LOG" ||
	fail "the esp did not note the false id"
grep -q 'isp "isp-b" serves 1 allow rules' "$ESP_LOG" || fail "the rogue's CONFIG was not taken as isp-b's"
grep -q "replaced" "$ESP_LOG" && fail "a session was replaced by a CONFIG's id"
grep -q "closed" "$T/isp-a.log" && fail "isp-a's session was disturbed"
ok "a CONFIG claiming another isp's id is not believed; that isp's session is untouched"

# isp-b's credentials claiming isp-a's network, first or later.
"$ROGUE" "$T/isp-b.conf" "127.0.0.1:$SESSION_PORT" 'allow=127.0.0.0/8\n' >"$T/rogue2.log" 2>&1
grep -q 'closed: .*goaway 6' "$T/rogue2.log" || fail "first CONFIG overlap: $(cat "$T/rogue2.log")"
wait_for_log "$ESP_LOG" 'isp "isp-b" refused: what it serves overlaps isp "isp-a": 127.0.0.0/8 and 127.0.0.1/32' 5
"$ROGUE" "$T/isp-b.conf" "127.0.0.1:$SESSION_PORT" 'allow=127.0.0.2/32\n' \
	'allow=127.0.0.2/32 127.0.0.1/32:80\n' >"$T/rogue3.log" 2>&1
grep -q '^sent config 2' "$T/rogue3.log" || fail "rogue: $(cat "$T/rogue3.log")"
grep -q 'closed: .*goaway 6' "$T/rogue3.log" || fail "a later CONFIG that grew was not refused: $(cat "$T/rogue3.log")"
wait_for_log "$ESP_LOG" 'isp "isp-b" refused: what it serves overlaps isp "isp-a": 127.0.0.1/32 and 127.0.0.1/32' 5
ok "claiming another isp's networks is refused, in the first CONFIG and in a later one"

# A real isp whose reload grows into another's network: refused too.
bg_start "$T/isp-b.log" "$BIN/isp" -v -c "$T/isp-b.conf"
ISP_B=$BG_PID
wait_for_log "$T/isp-b.log" "session with .* up" 10
sed -i 's#^allow .*#allow = 127.0.0.0/8#' "$T/isp-b.conf"
kill -HUP "$ISP_B"
wait_for_log "$T/isp-b.log" 'peer says goodbye: refused: isp "isp-b" refused: what it serves overlaps isp "isp-a"' 10
kill "$ISP_B"
ok "a reload that claims another isp's network ends that isp's session"

# Two isps at one id: the second is refused while the first answers.
cp "$T/isp-a.conf" "$T/isp-a2.conf"
bg_start "$T/isp-a2.log" "$BIN/isp" -v -c "$T/isp-a2.conf"
ISP_A2=$BG_PID
sleep 10
n_up=$(grep -c "session with .* up" "$T/isp-a2.log")
# The last session up may not have its refusal yet: wait for it. Between
# the wait and the count a further up and refusal may slip in (under load),
# so at least n_up: a refusal line only ever follows its session's up.
wait_for_count "$T/isp-a2.log" 'peer says goodbye: refused: isp "isp-a" already has a live session' "$n_up" 10
n_refused=$(grep -c 'peer says goodbye: refused: isp "isp-a" already has a live session' "$T/isp-a2.log")
[ "$n_up" -ge 2 ] || fail "the second isp did not keep trying ($n_up sessions)"
[ "$n_refused" -ge "$n_up" ] || fail "a second session was not refused ($n_up up, $n_refused refused)"
[ "$(grep -c 'replaced' "$ESP_LOG")" = 0 ] || fail "sessions were replaced: $(grep replaced "$ESP_LOG")"
grep -q "closed" "$T/isp-a.log" && fail "the first isp's session was disturbed"
grep -q 'isp "isp-a" already has a session from .*; checking that it is alive' "$ESP_LOG" ||
	fail "no warning on the esp"
# Under 2 s of backoff cap each refusal waits the cap: a few in 10 s.
[ "$n_up" -le 8 ] || fail "the refused isp retried $n_up times in 10 s"
ok "two isps at one id: the newer is refused $n_refused times in 10 s with a warning on both sides, 0 replacements"

# The first isp stops answering (but its TCP connection stays up): the
# second takes over once a probe finds the first dead, exactly once.
kill -STOP "$ISP_A"
wait_for_log "$ESP_LOG" 'isp "isp-a" did not answer within 3000 ms; replaced by the session from' 15
wait_for_log "$ESP_LOG" 'now serves isp "isp-a"' 5
kill -CONT "$ISP_A"
sleep 4
[ "$(grep -c 'replaced by the session from' "$ESP_LOG")" = 1 ] || fail "replacements: $(grep -c 'replaced by' "$ESP_LOG"), want 1"
grep -q 'peer says goodbye: refused: isp "isp-a" already has a live session' "$T/isp-a.log" ||
	grep -q "reconnecting to esp" "$T/isp-a.log" || fail "the first isp did not notice"
ok "the newer session took over only once the older was found dead, and the older did not take it back"
