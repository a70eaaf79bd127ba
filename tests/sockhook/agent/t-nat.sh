#!/bin/bash
# A client behind a masquerading home router (a café's Wi-Fi), across the
# one-port firewall. Through its agent: unmodified curl (active and
# passive FTP, HTTP) and lftp (active) work against inside servers, and a
# capture on the café's side shows no payload and no password. Through
# the SOCKS door: active FTP fails (the client announces its private
# address, which is not the address the esp sees: a bounce to the pair),
# and the same capture shows the payload and the password, so the
# capture would see a leak. Every file is checked by SHA-256.
. "$(dirname "$0")/../../lib.sh"
. "$TESTS/site.sh"
. "$TESTS/pki.sh"
need_root
need_cmd vsftpd curl lftp ftp nft tcpdump
id ftp >/dev/null 2>&1 || skip "needs the ftp user (from the vsftpd package)"

SESSION_PORT=4430
site_up $SESSION_PORT
site_add_home
chmod 755 "$T"

# Inside: vsftpd and a web server, both with a marker in what they send.
marker="MARKER-$(openssl rand -hex 8)"
mkdir -p "$T/ftp/pub" "$T/empty" "$T/www"
{ echo "$marker"; head -c 4194304 /dev/urandom; } >"$T/ftp/pub/big"
{ echo "$marker"; head -c 1048576 /dev/urandom; } >"$T/www/page"
site_vsftpd
NETNS=$S_SERVER http_start "$T/www" "$SERVER4"

password="pw-$(openssl rand -hex 6)"
(umask 077; echo "$password" >"$T/alice.pass")
NETNS_ESP=$S_ESP NETNS_ISP=$S_ISP
ESP_ADDR=$ESP4 SOCKS_ADDR=$ESP4 SOCKS_PORT=1080
site_agent_door
ALLOW="$SERVER4/32:21,$HTTP_PORT"
ISP_EXTRA="rules = $TOP/rules
listen_timeout = 3s"
ISP_SECTIONS="
[policy]
anonymous = no
[user alice]
password = $(pwhash "$password")
allow = $SERVER4/32:21,$HTTP_PORT
"
pair_start

export XDG_RUNTIME_DIR=$T/run
mkdir -m 700 "$XDG_RUNTIME_DIR"
cat >"$T/agent.conf" <<CONF
[sockhook]
agent = $ESP4:4431
ca    = $T/agentca.crt
user  = alice
password_file = $T/alice.pass
route = 192.0.2.0/24
CONF
cat >"$T/plain.conf" <<CONF
[sockhook]
esp   = $ESP4:1080
user  = alice
password_file = $T/alice.pass
route = 192.0.2.0/24
CONF
home() { ip netns exec "$S_HOME" "$@"; }
want_ftp=$(sha "$T/ftp/pub/big")
want_web=$(sha "$T/www/page")

# A direct connection from home to the server is blocked by the firewall.
if home curl -sS -m 3 -o /dev/null "http://$SERVER4:$HTTP_PORT/page" 2>/dev/null; then
	fail "the home host reaches the inside directly"
fi

# capture NAME CMD...: run CMD with tcpdump on the café side of the router.
capture() {
	local name=$1 pid
	shift
	ip netns exec "$S_NAT" tcpdump -i "h$S_NAT" -U -s 0 -w "$T/$name.pcap" \
		"host $ESP4" >"$T/$name.tcpdump" 2>&1 &
	pid=$!
	for i in $(seq 50); do
		grep -q "listening on" "$T/$name.tcpdump" && break
		sleep 0.1
	done
	"$@"
	local rc=$?
	sleep 0.5
	kill "$pid"
	wait "$pid" 2>/dev/null
	return $rc
}
# get NAME CONF URL CURLARGS...: fetch from home through sockhook.
get() {
	local name=$1 conf=$2 url=$3
	shift 3
	rm -f "$T/got.$name"
	home "$BIN/sockhook" -c "$conf" -- curl -sS --fail --max-time 60 "$@" \
		-o "$T/got.$name" "$url" 2>"$T/curl.$name"
}
agent_session() {
	get web "$T/agent.conf" "http://$SERVER4:$HTTP_PORT/page" &&
	get pasv "$T/agent.conf" "ftp://$SERVER4/pub/big" &&
	get port "$T/agent.conf" "ftp://$SERVER4/pub/big" -P -
}

capture agent agent_session || fail "through the agent: $(cat "$T"/curl.*)"
[ "$(sha "$T/got.web")" = "$want_web" ] || fail "web: SHA-256 differs"
[ "$(sha "$T/got.pasv")" = "$want_ftp" ] || fail "passive FTP: SHA-256 differs"
[ "$(sha "$T/got.port")" = "$want_ftp" ] || fail "active FTP: SHA-256 differs"
grep -q "reverse .*: asking agent .* to connect" "$ESP_LOG" ||
	fail "the esp did not hand the active data connection to the agent"
ok "behind NAT, through the agent: HTTP, passive FTP and active FTP (curl -P -), SHA-256 match"

[ "$(stat -c %s "$T/agent.pcap")" -gt 100000 ] || fail "the capture saw nothing"
grep -qa "$marker" "$T/agent.pcap" && fail "the payload marker crossed the café in clear"
grep -qa "$password" "$T/agent.pcap" && fail "the password crossed the café in clear"
grep -qa "pub/big" "$T/agent.pcap" && fail "the FTP commands crossed the café in clear"
# has_dest PCAP: the inside FTP server's address and port as SOCKS and
# OPEN carry them (6 bytes: no chance match in megabytes of ciphertext),
# or its address as text, anywhere in the capture's bytes.
has_dest() {
	python3 - "$1" "$SERVER4" <<'PY'
import socket, struct, sys
data = open(sys.argv[1], "rb").read()
packed = socket.inet_aton(sys.argv[2]) + struct.pack(">H", 21)
sys.exit(0 if packed in data or sys.argv[2].encode() in data else 1)
PY
}
has_dest "$T/agent.pcap" && fail "the destination $SERVER4 crossed the café in clear"
ok "a capture on the café side ($(stat -c %s "$T/agent.pcap") bytes) holds neither the marker, the FTP commands, the destination nor the password"

rm -f "$T/got.lftp"
before=$(count_log "$ESP_LOG" "reverse .*: asking agent .* to connect")
home "$BIN/sockhook" -c "$T/agent.conf" -- lftp -e "set ftp:passive-mode off; set net:max-retries 1; set net:timeout 20; get /pub/big -o $T/got.lftp; quit" \
	"ftp://$SERVER4" >"$T/lftp.out" 2>&1 || fail "lftp in active mode through the agent: $(cat "$T/lftp.out")"
[ "$(sha "$T/got.lftp")" = "$want_ftp" ] || fail "lftp: SHA-256 differs"
[ "$(count_log "$ESP_LOG" "reverse .*: asking agent .* to connect")" -gt "$before" ] ||
	fail "lftp did not use an active data connection"
ok "behind NAT, lftp in active mode through the agent: SHA-256 matches"

# The classic ftp client, in active mode (-A) and passive (-p).
for mode in A p; do
	rm -f "$T/got.ftp$mode"
	printf 'user anonymous x\nbinary\nget /pub/big %s\nquit\n' "$T/got.ftp$mode" |
		home "$BIN/sockhook" -c "$T/agent.conf" -- ftp -$mode -n -v "$SERVER4" \
		>"$T/ftp$mode.out" 2>&1 || fail "ftp -$mode through the agent: $(cat "$T/ftp$mode.out")"
	[ "$(sha "$T/got.ftp$mode")" = "$want_ftp" ] ||
		fail "ftp -$mode: SHA-256 differs: $(tail -5 "$T/ftp$mode.out")"
done
ok "behind NAT, the ftp client in active (-A) and passive (-p) mode through the agent: SHA-256 match"

# The SOCKS door: the same capture shows what crossed, and active FTP fails.
capture plain get plainweb "$T/plain.conf" "http://$SERVER4:$HTTP_PORT/page" ||
	fail "HTTP through the SOCKS door: $(cat "$T/curl.plainweb")"
[ "$(sha "$T/got.plainweb")" = "$want_web" ] || fail "SOCKS door: SHA-256 differs"
grep -qa "$marker" "$T/plain.pcap" || fail "the capture does not see the payload through the SOCKS door"
grep -qa "$password" "$T/plain.pcap" || fail "the capture does not see the password through the SOCKS door"
has_dest "$T/plain.pcap" || fail "the capture does not see the destination through the SOCKS door"
ok "through the SOCKS door the same capture sees the marker, the destination and the password in clear"
if get plainport "$T/plain.conf" "ftp://$SERVER4/pub/big" -P -; then
	fail "active FTP through the SOCKS door from behind NAT worked"
fi
grep -q "refused announcement .*PORT 10,9,0,2" "$ISP_LOG" ||
	fail "the isp did not refuse the private address: $(grep -i announce "$ISP_LOG" | tail -3)"
ok "active FTP through the SOCKS door from behind NAT fails: $(tail -1 "$T/curl.plainport")"
