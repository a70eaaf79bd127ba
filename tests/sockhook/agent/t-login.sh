#!/bin/bash
# How an agent logs its user in: by password (SCRAM, checked by the isp)
# or by a certificate under the CA that the isp's policy names. A wrong
# password, a certificate from another CA, or one for a user the policy
# does not know gets no session: sockhook says why and does not run the
# command, and both daemons log the refusal. A password whose stored
# scrypt cost is below 16384 gets no proof from the agent.
. "$(dirname "$0")/../../lib.sh"
SH_MODE=agent
. "$(dirname "$0")/../common.sh"
need_cmd curl openssl
. "$TESTS/pki.sh"
pki_ca rogueca
pki_cert carol rogueca isp
for f in crt key; do mv "$T/carol.$f" "$T/carol-rogue.$f"; done
pki_ca userca
pki_cert carol userca isp
pki_cert dave userca isp
# A valid SCRAM secret for lowcost with scrypt N = 1024: the isp takes it
# (it starts with it), but an agent will not send a proof over so cheap a
# hash, which the esp, relaying it, could guess offline.
lowhash=$(python3 - <<'PY'
import base64, hashlib, hmac, os
salt = os.urandom(16)
salted = hashlib.scrypt(b"low-secret", salt=salt, n=1024, r=8, p=1, dklen=32)
ck = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
sk = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
b = lambda x: base64.b64encode(x).decode()
print("scram$1024$8$1$%s$%s$%s" % (b(salt), b(hashlib.sha256(ck).digest()), b(sk)))
PY
)
ISP_SECTIONS="
[policy]
user_ca = $T/userca.crt
[user carol]
allow = 127.0.0.1/32
[user lowcost]
password = $lowhash
allow = 127.0.0.1/32
"
sh_pair
url=http://127.0.0.1:$HTTP_PORT/blob

# agent_conf NAME LOGIN-LINES: a config of its own (so its own agent).
agent_conf() {
	printf '[sockhook]\nagent = 127.0.0.1:%s\nca = %s\nroute = 127.0.0.1/32\n%b' \
		"$CLIENT_PORT" "$T/agentca.crt" "$2" >"$T/$1.conf"
}

(umask 077; echo wrong-secret >"$T/wrong.pass")
agent_conf wrongpw "user = shuser\npassword_file = $T/wrong.pass\n"
agent_refused wrongpw "login refused: wrong user name or password"
grep -q 'agent 127.0.0.1:[0-9]*: login failed for user "shuser"' "$ESP_LOG" ||
	fail "the esp did not log the failed login"
grep -q 'agent login from 127.0.0.1:[0-9]* for user "shuser" refused: wrong password' "$ISP_LOG" ||
	fail "the isp did not log the wrong password"
ok "a wrong password: $(cat "$T/wrongpw.err")"

agent_conf cert "cert = $T/carol.crt\nkey = $T/carol.key\n"
"$BIN/sockhook" -c "$T/cert.conf" -- curl -sS -o "$T/cert.out" "$url" ||
	fail "curl with a certificate login failed: $(cat "$XDG_RUNTIME_DIR"/dynpass/*.log)"
[ "$(sha "$T/cert.out")" = "$BLOB_SHA" ] || fail "SHA-256 differs"
grep -q 'user "carol" logged in by certificate' "$ISP_LOG" || fail "the isp did not log carol in"
# The audit line comes at channel close, maybe after curl exits.
wait_for_log "$ISP_LOG" 'audit ts=[^ ]+ event=channel side=isp channel=[0-9]+ user=carol ' 10
ok "a certificate under [policy] user_ca logs carol in; her channel is hers"

agent_conf rogue "cert = $T/carol-rogue.crt\nkey = $T/carol-rogue.key\n"
agent_refused rogue "login refused for this certificate"
grep -q 'agent login from 127.0.0.1:[0-9]* for user "carol" refused: certificate verify failed: unable to get local issuer certificate' "$ISP_LOG" ||
	fail "the isp did not log the foreign certificate: $(grep refused "$ISP_LOG")"
grep -q 'agent 127.0.0.1:[0-9]*: login failed for user "carol"' "$ESP_LOG" ||
	fail "the esp did not log the foreign certificate: $(grep 'login failed' "$ESP_LOG")"
ok "a certificate for carol from another CA: $(cat "$T/rogue.err")"

agent_conf dave "cert = $T/dave.crt\nkey = $T/dave.key\n"
agent_refused dave "login refused for this certificate"
grep -q 'for user "dave" refused: no such user' "$ISP_LOG" ||
	fail "the isp did not log the unknown user"
grep -q 'agent 127.0.0.1:[0-9]*: login failed for user "dave"' "$ESP_LOG" ||
	fail "the esp did not log the unknown user: $(grep 'login failed' "$ESP_LOG")"
ok "a good certificate for a user the policy does not know is refused"

(umask 077; echo low-secret >"$T/low.pass")
agent_conf lowcost "user = lowcost\npassword_file = $T/low.pass\n"
agent_refused lowcost "the password's scrypt cost is too low to send a proof through the esp (at least 16384)"
ok "a password hash with scrypt N = 1024: the agent sends no proof ($(cat "$T/lowcost.err"))"
