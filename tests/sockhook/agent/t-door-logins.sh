#!/bin/bash
# Refused logins at the esp's client door are bounded: an agent needs no
# credential to send LOGINs, so the esp ends a session on its 8th refused
# login (each further try then costs a TLS handshake, as at the SOCKS
# door), and logs and audits 50 refusals a second, counting the rest and
# saying so once a second.
. "$(dirname "$0")/../../lib.sh"
SH_MODE=agent
. "$(dirname "$0")/../common.sh"
FLOOD=$TOP/build/tests/sockhook/agentflood
[ -x "$FLOOD" ] || fail "$FLOOD is not built (make tests)"
sh_pair

refusal='agent 127\.0\.0\.[0-9]+:[0-9]+: login for user "" refused: malformed login'
audit='audit .*event=refusal side=esp .*end="malformed login"'

# One session sends 5000 malformed first steps at once.
AGENTFLOOD_LOGINS=5000 "$FLOOD" "$T/agentca.crt" "$CLIENT_PORT" 127.0.0.3 1 5 >"$T/one.log" 2>&1
# (The esp closes with frames unread: the agent may see a reset before
# the last answers.)
[ "$(count_log "$T/one.log" "^denied$")" -le 8 ] || fail "one session: $(sort "$T/one.log" | uniq -c | tr '\n' ' '), want at most 8 denied"
grep -q "^closed: " "$T/one.log" || fail "one session was not closed: $(tail -2 "$T/one.log")"
wait_for_log "$ESP_LOG" "session with 127\.0\.0\.3:[0-9]+ failed: 8 logins refused on one session" 5
[ "$(count_log "$ESP_LOG" "$refusal")" = 8 ] || fail "$(count_log "$ESP_LOG" "$refusal") refusals logged for one session"
[ "$(count_log "$ESP_LOG" "$audit")" = 8 ] || fail "$(count_log "$ESP_LOG" "$audit") refusals audited for one session"
ok "5000 malformed logins on one session: 8 refused, then the session ends; 8 lines and 8 audit lines"

# 40 sessions at once, 100 each: 320 refusals, 50 a second in the log.
before=$(count_log "$ESP_LOG" "$refusal")
AGENTFLOOD_LOGINS=100 "$FLOOD" "$T/agentca.crt" "$CLIENT_PORT" 127.0.0.4 40 5 >"$T/many.log" 2>&1
[ "$(count_log "$T/many.log" "^closed: ")" = 40 ] || fail "40 sessions: $(sort "$T/many.log" | uniq -c | tr '\n' ' '), want 40 closed"
wait_for_count "$ESP_LOG" "session with 127\.0\.0\.4:[0-9]+ failed: 8 logins refused on one session" 40 10
n=$(($(count_log "$ESP_LOG" "$refusal") - before))
[ "$n" -ge 50 ] && [ "$n" -le 150 ] || fail "$n of 320 refusals logged (50 a second)"
wait_for_log "$ESP_LOG" "esp\[warn\]: more than 50 agent logins refused a second: the rest are counted \(dynpass_logins_total\), not logged or audited \([0-9]+ more like it in the second before\)" 5
ok "40 sessions with 100 malformed logins each: each ended after 8, $n of the 320 refusals logged, the rest said"
