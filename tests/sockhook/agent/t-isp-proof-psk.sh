#!/bin/bash
# An isp whose session runs on a pre-shared key proves itself to agents
# with [isp] login_cert and login_key: it signs its part of a certificate
# login with that key, and an agent with isp_ca (and isp_name) takes the
# login and approves reverse connections on its word.
# - With login_cert: active FTP through the agent works (SHA-256).
# - Without it: the agent with isp_ca gets no login, and says why.
# - isp -t: each wrong login_cert or login_key gets one line.
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

# The pair on a pre-shared key; the isp's signing certificate under ca.
pki_ca ca
pki_cert isp-signer.test ca isp
pki_cert esp-role ca esp
pki_ca userca
pki_cert carol userca isp
NETNS_ESP=$S_ESP NETNS_ISP=$S_ISP
ESP_ADDR=$ESP4 SOCKS_ADDR=$ESP4 SOCKS_PORT=1080
site_agent_door
ALLOW="$SERVER4/32:21"
ISP_EXTRA="rules = $TOP/rules
listen_timeout = 3s
login_cert = $T/isp-signer.test.crt
login_key = $T/isp-signer.test.key"
ISP_SECTIONS="
[policy]
anonymous = no
user_ca = $T/userca.crt
[user carol]
allow = $SERVER4/32:21
"
pair_start
wait_for_log "$ISP_LOG" "session with .* up" 15

export XDG_RUNTIME_DIR=$T/run
mkdir -m 700 "$XDG_RUNTIME_DIR"
printf '[sockhook]\nagent = %s:4431\nca = %s\nroute = 192.0.2.0/24\ncert = %s\nkey = %s\nisp_ca = %s\nisp_name = isp-signer.test\n' \
	"$ESP4" "$T/agentca.crt" "$T/carol.crt" "$T/carol.key" "$T/ca.crt" >"$T/agent.conf"
client() { ip netns exec "$S_CLIENT" "$@"; }
agent_log() { cat "$XDG_RUNTIME_DIR"/dynpass/agent-*.log 2>/dev/null; }

rm -f "$T/got"
client "$BIN/sockhook" -c "$T/agent.conf" -- curl -sS --fail --max-time 30 -P - \
	-o "$T/got" "ftp://$SERVER4/pub/big" 2>"$T/curl.err" ||
	fail "active FTP with a PSK isp and login_cert: $(cat "$T/curl.err"; agent_log | tail -5)"
[ "$(sha "$T/got")" = "$want" ] || fail "active FTP with login_cert: SHA-256 differs"
grep -q "reverse .*: asking agent .* to connect" "$ESP_LOG" ||
	fail "the esp did not hand the active data connection to the agent"
ok "a PSK isp signs with login_cert: active FTP through the agent, SHA-256 matches"

# Without login_cert the PSK isp has nothing to sign with. (Another file:
# another agent, not the one still lingering from the first command.)
cp "$T/agent.conf" "$T/agent2.conf"
sed -i '/^login_cert = /d; /^login_key = /d' "$T/isp.conf"
kill "$ISP_PID"
wait "$ISP_PID" 2>/dev/null || true
ISP_LOG=$T/isp2.log
isp_start
wait_for_log "$ISP_LOG" "session with .* up" 15
rm -f "$T/ran"
if client "$BIN/sockhook" -c "$T/agent2.conf" -- touch "$T/ran" 2>"$T/nosign.err"; then
	fail "a login went on with a PSK isp that cannot sign"
fi
[ ! -e "$T/ran" ] || fail "the command ran without a login"
grep -q "^sockhook: agent: the isp is not proven (\[sockhook\] isp_ca): message 2 is not signed by an isp (does the isp have a certificate: \[tls\] cert, or \[isp\] login_cert?) (log: " "$T/nosign.err" ||
	fail "no login_cert: $(cat "$T/nosign.err")"
ok "without login_cert: no login, and why: $(cat "$T/nosign.err")"

# isp -t: one line for each mistake.
check() { # NAME EXTRA WANT
	sed '/^login_cert = /d; /^login_key = /d' "$T/isp.conf" |
		sed "s|^\[isp\]$|[isp]\n$2|" >"$T/$1.conf"
	out=$("$BIN/isp" -t -c "$T/$1.conf" 2>&1) && fail "$1: isp -t accepted it"
	[ "$out" = "isp: $T/$1.conf: $3" ] || fail "$1: wanted \"$3\", got: $out"
	ok "$1: $out"
}
check nokey "login_cert = $T/isp-signer.test.crt" \
	"[isp] login_key: missing: login_cert and login_key go together"
check server "login_cert = $T/esp-role.crt\nlogin_key = $T/esp-role.key" \
	"[isp] login_cert: $T/esp-role.crt: not a certificate for client use only (agents refuse one for server use, as an esp's)"
check otherkey "login_cert = $T/isp-signer.test.crt\nlogin_key = $T/carol.key" \
	"[isp] login_cert: $T/carol.key: not the key of $T/isp-signer.test.crt"
chmod 644 "$T/isp-signer.test.key"
check keymode "login_cert = $T/isp-signer.test.crt\nlogin_key = $T/isp-signer.test.key" \
	"[isp] login_key: $T/isp-signer.test.key is accessible to group or others (mode 644); run chmod 600 $T/isp-signer.test.key"
