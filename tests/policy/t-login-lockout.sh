#!/bin/bash
# The isp bounds password guessing per user, whoever asks: after
# [isp] login_failures failed checks within login_failure_window, the
# user's logins are refused, the right password too, until the window is
# over. This holds against an esp that guesses on by itself (a taken-over
# one), which no limit at the esp can stop. Here: 5 wrong SOCKS passwords
# lock alice (her right one is then refused; bob's login still works),
# and after the window she logs in. The same for an agent's SCRAM login
# (carol). A locked user is checked against the dummy hash, so that the
# refusal costs and looks like any other.
. "$(dirname "$0")/../lib.sh"
. "$TESTS/pki.sh"
LOGINS="python3 $TESTS/tools/logins.py"

pki_ca agentca
pki_cert esp-door agentca esp "DNS:localhost,IP:127.0.0.1"
CLIENT_PORT=$(free_port)
ESP_EXTRA="client_listen = 127.0.0.1:$CLIENT_PORT
[client_tls]
cert = $T/esp-door.crt
key = $T/esp-door.key
[esp]"
ALLOW="127.0.0.1/32:1"
ISP_EXTRA="login_failures = 5
login_failure_window = 5s"
ISP_SECTIONS="
[policy]
anonymous = no
[user alice]
password = $(pwhash alice-secret)
allow = 127.0.0.1/32:1
[user bob]
password = $(pwhash bob-secret)
allow = 127.0.0.1/32:1
[user carol]
password = $(pwhash carol-secret)
allow = 127.0.0.1/32:1
"
pair_start
wait_for_log "$ESP_LOG" "policy: 3 users" 10

# A: SOCKS logins (AUTH from the esp).
t0=$(date +%s%N)
r=$($LOGINS time "$SOCKS_PORT" 127.0.0.1 alice wrong 5)
[ "${r#* }" = "1,1,1,1,1" ] || fail "5 wrong passwords: $r"
wait_for_log "$ISP_LOG" "user alice: 5 failed logins \(the last by password\) within 5.000 s: the user's logins are refused until that time is over \(\[isp\] login_failures\)" 5
r=$($LOGINS time "$SOCKS_PORT" 127.0.0.1 alice alice-secret 1)
[ "${r#* }" = 1 ] || fail "alice's right password while she is locked: $r, want refused (1)"
locked_ms=${r%% *}
r=$($LOGINS time "$SOCKS_PORT" 127.0.0.1 bob bob-secret 1)
[ "${r#* }" = 0 ] || fail "bob's login while alice is locked: $r"
ok "5 wrong passwords for alice: her right one is refused (in $locked_ms ms, a full check), bob's is taken"
while [ $((($(date +%s%N) - t0) / 1000000)) -lt 5300 ]; do sleep 0.2; done
r=$($LOGINS time "$SOCKS_PORT" 127.0.0.1 alice alice-secret 1)
[ "${r#* }" = 0 ] || fail "alice's right password after the window: $r"
ok "after the 5 s window, alice's right password is taken"

# B: an agent's SCRAM login, relayed by the esp.
export XDG_RUNTIME_DIR=$T/run
mkdir -m 700 "$XDG_RUNTIME_DIR"
(umask 077; echo wrong-secret >"$T/wrong.pass"; echo carol-secret >"$T/carol.pass")
agent_run() { # NAME PASSFILE: sockhook through an agent of its own
	printf '[sockhook]\nagent = 127.0.0.1:%s\nca = %s\nroute = 127.0.0.1/32:1\nuser = carol\npassword_file = %s\n' \
		"$CLIENT_PORT" "$T/agentca.crt" "$2" >"$T/$1.conf"
	rm -f "$T/ran"
	"$BIN/sockhook" -c "$T/$1.conf" -- touch "$T/ran" 2>"$T/$1.err"
}
t0=$(date +%s%N)
for n in 1 2 3 4 5; do
	agent_run "wrong$n" "$T/wrong.pass" && fail "a wrong SCRAM password was taken"
	grep -q "login refused: wrong user name or password" "$T/wrong$n.err" ||
		fail "wrong password $n: $(cat "$T/wrong$n.err")"
done
wait_for_log "$ISP_LOG" "user carol: 5 failed logins \(the last by SCRAM\) within 5.000 s" 5
agent_run locked "$T/carol.pass" && fail "carol's right password was taken while she is locked"
grep -q "login refused: wrong user name or password" "$T/locked.err" ||
	fail "carol locked: $(cat "$T/locked.err")"
[ ! -e "$T/ran" ] || fail "the command ran"
ok "5 wrong SCRAM passwords for carol through an agent: her right one is refused"
while [ $((($(date +%s%N) - t0) / 1000000)) -lt 5300 ]; do sleep 0.2; done
agent_run after "$T/carol.pass" || fail "carol after the window: $(cat "$T/after.err")"
[ -e "$T/ran" ] || fail "the command did not run"
ok "after the window, carol's agent logs in and runs the command"
