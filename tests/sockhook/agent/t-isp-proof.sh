#!/bin/bash
# A certificate login proves the isp to the agent only when the agent
# names the isps' CA ([sockhook] isp_ca): the isp signs its key share
# with its session certificate's key. Only a proven isp's key may approve
# a reverse connection (active FTP), so an esp that answers a login
# itself cannot make the agent connect to ports on its host.
# - With isp_ca: the login is proven, and active FTP works.
# - Without isp_ca: the login works and passive FTP works, but the agent
#   refuses the reverse connection, and says why.
# - With isp_ca naming a CA that did not issue the isp's certificate, or
#   isp_name leaving out the isp's name: no login, and sockhook says why.
. "$(dirname "$0")/../../lib.sh"
. "$TESTS/site.sh"
. "$TESTS/pki.sh"
need_root
need_cmd vsftpd curl nft openssl
id ftp >/dev/null 2>&1 || skip "needs the ftp user (from the vsftpd package)"

SESSION_PORT=4430
site_up $SESSION_PORT
chmod 755 "$T"

mkdir -p "$T/ftp/pub" "$T/empty"
head -c 2097152 /dev/urandom >"$T/ftp/pub/big"
want=$(sha "$T/ftp/pub/big")
site_vsftpd

# The pair on certificates: the isp's is what it signs its shares with.
pki_ca ca
pki_cert esp.test ca esp "DNS:esp.test"
pki_cert isp.test ca isp
pki_ca userca
pki_cert carol userca isp
NETNS_ESP=$S_ESP NETNS_ISP=$S_ISP
ESP_ADDR=$ESP4 SOCKS_ADDR=$ESP4 SOCKS_PORT=1080
ISP_ID=isp.test
ESP_TLS_TEXT="$(pki_tls esp.test ca)
peer_name = isp.test"
ISP_TLS_TEXT="$(pki_tls isp.test ca)
peer_name = esp.test"
site_agent_door
ALLOW="$SERVER4/32:21"
ISP_EXTRA="rules = $TOP/rules
listen_timeout = 3s"
ISP_SECTIONS="
[policy]
anonymous = no
user_ca = $T/userca.crt
[user carol]
allow = $SERVER4/32:21
"
pair_start
wait_for_log "$ISP_LOG" "session with .* up .*identity esp.test" 15

export XDG_RUNTIME_DIR=$T/run
mkdir -m 700 "$XDG_RUNTIME_DIR"
agent_conf() { # NAME [ISP_CA [ISP_NAME]]
	printf '[sockhook]\nagent = %s:4431\nca = %s\nroute = 192.0.2.0/24\ncert = %s\nkey = %s\n%s%s' \
		"$ESP4" "$T/agentca.crt" "$T/carol.crt" "$T/carol.key" \
		"${2:+isp_ca = $2
}" "${3:+isp_name = $3
}" >"$T/$1.conf"
}
client() { ip netns exec "$S_CLIENT" "$@"; }
# get NAME CONF CURLARGS...: the FTP file through sockhook, from the client.
get() {
	local name=$1 conf=$2
	shift 2
	rm -f "$T/got.$name"
	client "$BIN/sockhook" -c "$conf" -- curl -sS --fail --max-time 30 "$@" \
		-o "$T/got.$name" "ftp://$SERVER4/pub/big" 2>"$T/curl.$name"
}
agent_log() { cat "$XDG_RUNTIME_DIR"/dynpass/agent-*.log 2>/dev/null; }

agent_conf proven "$T/ca.crt"
get proven "$T/proven.conf" -P - || fail "active FTP with a proven isp: $(cat "$T/curl.proven"; agent_log)"
[ "$(sha "$T/got.proven")" = "$want" ] || fail "active FTP with a proven isp: SHA-256 differs"
grep -q "reverse .*: asking agent .* to connect" "$ESP_LOG" ||
	fail "the esp did not hand the active data connection to the agent"
agent_log | grep -q "no isp proved itself" && fail "the agent did not take the isp's signature"
ok "with isp_ca, the isp's signed share proves it: active FTP through the agent, SHA-256 matches"

# isp_name pins the isps' names under isp_ca: the isp's name passes, and
# a list that leaves it out gets no login.
agent_conf named "$T/ca.crt" "other.test, isp.test"
get named "$T/named.conf" -P - || fail "active FTP with isp_name naming the isp: $(cat "$T/curl.named"; agent_log)"
[ "$(sha "$T/got.named")" = "$want" ] || fail "active FTP with isp_name: SHA-256 differs"
ok "isp_name naming the isp: active FTP through the agent, SHA-256 matches"
agent_conf misnamed "$T/ca.crt" "other.test"
rm -f "$T/ran"
if client "$BIN/sockhook" -c "$T/misnamed.conf" -- touch "$T/ran" 2>"$T/misnamed.err"; then
	fail "a login went on with an isp whose certificate isp_name does not name"
fi
[ ! -e "$T/ran" ] || fail "the command ran without a login (isp_name)"
grep -q "^sockhook: agent: the isp is not proven (\[sockhook\] isp_ca): certificate verify failed: the certificate carries none of the names isp_name allows (log: " "$T/misnamed.err" ||
	fail "isp_name leaving the isp out: $(cat "$T/misnamed.err")"
ok "isp_name leaving the isp out: no login: $(cat "$T/misnamed.err")"

agent_conf unproven
get pasv "$T/unproven.conf" || fail "passive FTP without isp_ca: $(cat "$T/curl.pasv")"
[ "$(sha "$T/got.pasv")" = "$want" ] || fail "passive FTP without isp_ca: SHA-256 differs"
if get port "$T/unproven.conf" -P -; then
	fail "active FTP worked with an unproven isp"
fi
agent_log | grep -q "no isp proved itself (\[sockhook\] isp_ca is not set): reverse connections (active FTP, DCC, rsh) are refused" ||
	fail "the agent did not say that reverse connections are off: $(agent_log | tail -5)"
agent_log | grep -Eq "reverse connection to 127\.0\.0\.1:[0-9]+ for channel [0-9]+ refused: no isp of this login proved itself \(a certificate login without \[sockhook\] isp_ca\)" ||
	fail "the agent did not refuse the reverse connection: $(agent_log | grep -i reverse | tail -3)"
ok "without isp_ca: passive FTP works, the reverse connection is refused: $(tail -1 "$T/curl.port")"

agent_conf wrongca "$T/userca.crt"
rm -f "$T/ran"
if client "$BIN/sockhook" -c "$T/wrongca.conf" -- touch "$T/ran" 2>"$T/wrongca.err"; then
	fail "a login went on with an isp that isp_ca does not prove"
fi
[ ! -e "$T/ran" ] || fail "the command ran without a login"
grep -q "^sockhook: agent: the isp is not proven (\[sockhook\] isp_ca): certificate verify failed: unable to get local issuer certificate (log: " "$T/wrongca.err" ||
	fail "wrong isp_ca: $(cat "$T/wrongca.err")"
grep -q 'agent login from .* user "carol" logged in' "$ISP_LOG" || fail "no login of carol at all"
ok "isp_ca naming another CA: no login: $(cat "$T/wrongca.err")"
