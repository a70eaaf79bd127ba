#!/bin/bash
# An agent proves the esp before it says anything: the esp's certificate
# must chain to the agent's ca and name the host dialled (or peer_name).
# Against the real esp with the wrong ca, and against an impostor whose
# certificate comes from another CA or names another host, the agent gets
# no session, sockhook says why and does not run the command, and the
# impostor receives nothing after the handshake (no login, no password).
# The same impostor with a certificate the agent accepts does receive the
# agent's first frames, so the impostor would see a leak.
. "$(dirname "$0")/../../lib.sh"
SH_MODE=agent
. "$(dirname "$0")/../common.sh"
need_cmd curl openssl python3
. "$TESTS/pki.sh"
sh_pair
pki_ca otherca
pki_cert esp-other otherca esp "DNS:localhost,IP:127.0.0.1"
pki_cert esp-elsewhere agentca esp "DNS:elsewhere.test"
pki_cert esp-good agentca esp "DNS:localhost,IP:127.0.0.1"

# agent_conf NAME PORT CA [EXTRA]: a config of its own (so its own agent).
agent_conf() {
	printf '[sockhook]\nagent = 127.0.0.1:%s\nca = %s\nroute = 127.0.0.1/32\nuser = shuser\npassword_file = %s\n%b' \
		"$2" "$3" "$T/shuser.pass" "${4:-}" >"$T/$1.conf"
}
# impostor NAME CERT: a TLS 1.3 server with CERT; its report in $T/NAME.imp.
impostor() {
	IMP_PORT=$(free_port)
	python3 "$TESTS/tools/tlsimpostor.py" "$IMP_PORT" "$T/$2.crt" "$T/$2.key" 30 >"$T/$1.imp" 2>&1 &
	IMP_PID=$!
	wait_for_log "$T/$1.imp" "^listening" 10
}
# impostor_report NAME: what the impostor saw of the agent's first try.
impostor_report() {
	for i in $(seq 50); do grep -q "^received\|^handshake failed" "$T/$1.imp" && break; sleep 0.1; done
	kill "$IMP_PID" 2>/dev/null
	wait "$IMP_PID" 2>/dev/null
	grep -m1 "^received\|^handshake failed" "$T/$1.imp" || echo "no report: $(cat "$T/$1.imp")"
}

# The real esp, but the agent trusts another CA.
agent_conf wrongca "$CLIENT_PORT" "$T/otherca.crt"
agent_refused wrongca "the esp's certificate does not verify: unable to get local issuer certificate"
[ "$(count_log "$ESP_LOG" "login")" = 0 ] || fail "the esp saw a login: $(grep login "$ESP_LOG")"
ok "the real esp under another CA than the agent's ca: $(cat "$T/wrongca.err")"

# An impostor with a certificate from another CA.
impostor other esp-other
agent_conf other "$IMP_PORT" "$T/agentca.crt"
agent_refused other "the esp's certificate does not verify: unable to get local issuer certificate"
rep=$(impostor_report other)
case $rep in
"handshake failed:"*) ;;
*) fail "the impostor under another CA: $rep" ;;
esac
ok "an impostor under another CA learns nothing: $rep"

# An impostor with a certificate under the agent's CA, for another host.
impostor elsewhere esp-elsewhere
agent_conf elsewhere "$IMP_PORT" "$T/agentca.crt"
agent_refused elsewhere "the esp's certificate does not verify: IP address mismatch"
rep=$(impostor_report elsewhere)
case $rep in
"handshake failed:"*) ;;
*) fail "the impostor for another host: $rep" ;;
esac
ok "an impostor for another host name learns nothing: $rep"

# The same certificate, with peer_name naming it, passes the check.
impostor named esp-elsewhere
agent_conf named "$IMP_PORT" "$T/agentca.crt" "peer_name = elsewhere.test\n"
"$BIN/sockhook" -c "$T/named.conf" -- true 2>"$T/named.err" # no esp there: no session
rep=$(impostor_report named)
case $rep in
"received "[1-9]*) ;;
*) fail "with peer_name naming the impostor's certificate, it saw: $rep ($(cat "$T/named.err"))" ;;
esac
ok "with peer_name = elsewhere.test the agent talks to that certificate: $rep"

# Control: a certificate the agent accepts; the impostor sees what it sends.
impostor good esp-good
agent_conf good "$IMP_PORT" "$T/agentca.crt"
"$BIN/sockhook" -c "$T/good.conf" -- true 2>"$T/good.err" # no esp there: no session
rep=$(impostor_report good)
case $rep in
"received "[1-9]*) ;;
*) fail "a certificate the agent accepts: the impostor saw $rep ($(cat "$T/good.err"))" ;;
esac
ok "control: an impostor the agent accepts does see its frames: $rep"
