#!/bin/bash
# A taken-over esp that relays an agent's password login cannot use what
# it saw: the agent's OPEN again on a second channel, its tag for another
# destination, the OPEN on the isp's next session, and the recorded login
# exchange (client-first and proof) replayed to the isp are all refused,
# each with the isp's own reason. Nor can it make the agent connect
# anywhere: reverse connections no isp approved (no tag, a forged tag,
# another host, no such channel) are refused by the agent, each with its
# reason. The agent's own connection works.
. "$(dirname "$0")/../lib.sh"
. "$TESTS/pki.sh"
ROGUE=$TOP/build/tests/policy/rogue_door
[ -x "$ROGUE" ] || fail "$ROGUE is not built (make tests)"
need_cmd curl

mkdir -p "$T/a" "$T/b"
head -c 65536 /dev/urandom >"$T/a/f"
http_start "$T/a"
PA=$HTTP_PORT
http_start "$T/b"
PB=$HTTP_PORT
pki_ca agentca
pki_cert esp-door agentca esp "DNS:localhost,IP:127.0.0.1"
write_psk "$T/pair.psk"
ESP_ADDR=127.0.0.1 SOCKS_ADDR=127.0.0.1 SESSION_PORT=$(free_port) SOCKS_PORT=$(free_port)
CLIENT_PORT=$(free_port)
esp_conf "$T/rogue.conf"
ALLOW="127.0.0.1/32:1"
RECONNECT_MAX=1s
ISP_SECTIONS="
[policy]
anonymous = no
[user alice]
password = $(pwhash alice-secret)
allow = 127.0.0.1/32:$PA,$PB
"
isp_conf "$T/isp.conf"
bg_start "$T/rogue.log" "$ROGUE" "$T/rogue.conf" "$SESSION_PORT" "$CLIENT_PORT" \
	"$T/esp-door.crt" "$T/esp-door.key" "$PB"
wait_for_log "$T/rogue.log" listening 10
isp_start
wait_for_log "$ISP_LOG" "session with .* up" 15

(umask 077; echo alice-secret >"$T/alice.pass")
export XDG_RUNTIME_DIR=$T/run
mkdir -m 700 "$XDG_RUNTIME_DIR"
cat >"$T/sockhook.conf" <<CONF
[sockhook]
agent = 127.0.0.1:$CLIENT_PORT
ca    = $T/agentca.crt
user  = alice
password_file = $T/alice.pass
route = 127.0.0.1/32:$PA,$PB
CONF
"$BIN/sockhook" -c "$T/sockhook.conf" -- curl -sS -o "$T/got" "http://127.0.0.1:$PA/f" ||
	fail "curl through the agent and the rogue esp failed"
[ "$(sha "$T/got")" = "$(sha "$T/a/f")" ] || fail "the relayed transfer differs"
ok "the agent's own connection, relayed by the rogue esp, works (SHA-256 matches)"

wait_for_log "$T/rogue.log" "^replayed login: " 20
grep -qx "relayed open: 0" "$T/rogue.log" || fail "the agent's open: $(cat "$T/rogue.log")"
grep -qx "replayed open: 2" "$T/rogue.log" || fail "replayed open: $(cat "$T/rogue.log")"
grep -q "for user \"alice\" through an agent refused: the tag was used before (a replay)" "$ISP_LOG" ||
	fail "the isp did not log the replay"
ok "the same OPEN on a second channel is refused: the tag was used before"
grep -qx "changed destination: 2" "$T/rogue.log" || fail "changed destination: $(cat "$T/rogue.log")"
grep -q "127.0.0.1:$PB for user \"alice\" through an agent refused: the tag does not match" "$ISP_LOG" ||
	fail "the isp did not log the forged destination"
ok "the tag for another destination is refused: it does not match"
grep -qx "second session open: 2" "$T/rogue.log" || fail "second session: $(cat "$T/rogue.log")"
grep -q "through an agent refused: no such login on this session" "$ISP_LOG" ||
	fail "the isp did not log the OPEN on the second session"
ok "the OPEN replayed on the isp's next session is refused: no such login there"
grep -qx "replayed login: denied" "$T/rogue.log" || fail "replayed login: $(cat "$T/rogue.log")"
grep -q "for user \"alice\" refused: wrong password" "$ISP_LOG" ||
	fail "the isp did not log the replayed proof"
ok "the recorded login exchange replayed to the isp is refused: the proof is for another nonce"
[ "$(grep -c 'logged in by password' "$ISP_LOG")" = 1 ] || fail "the isp accepted more than one login"

# Reverse connections the rogue asked of the agent on its own.
for what in "outside without a tag" "outside with a forged tag" "outside to another host" "outside for no channel"; do
	grep -qx "$what: 2" "$T/rogue.log" || fail "$what: $(grep '^outside' "$T/rogue.log")"
done
alog=$(ls "$XDG_RUNTIME_DIR"/dynpass/agent-*.log)
for why in "no approval from an isp of this login" "not the program that announced" "not a channel of a program here"; do
	grep -q "reverse connection to 127\.0\.0\.[12]:$PB for channel [0-9]* refused: $why" $alog ||
		fail "the agent did not log \"$why\": $(grep 'reverse' $alog)"
done
[ "$(grep -c 'refused: no approval from an isp of this login' $alog)" = 2 ] ||
	fail "want 2 refusals for no approval: $(grep reverse $alog)"
grep -q "reverse .*: connecting" $alog && fail "the agent connected for the rogue: $(grep reverse $alog)"
ok "reverse connections no isp approved (no tag, a forged tag, another host, no such channel) are refused by the agent"
