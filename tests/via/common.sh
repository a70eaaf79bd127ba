# A site whose firewall lets the inside reach only a proxy host, for the
# [isp] via tests. Source after lib.sh; call via_site_up.
#
#   inside 192.0.2.2 (isp, web server) --hin/fwi--+
#   proxy 203.0.113.2 (Dante, tinyproxy) --hpx/fwp--+-- fw (.1 on each link)
#   outside 198.51.100.2 (esp, client) --hout/fwo--+
#
# Routed veth pairs, no bridges. The firewall forwards only new TCP
# connections inside -> proxy:PORTS and proxy -> esp:4430, and their
# replies; nothing from inside goes to the outside directly. Only these
# documentation addresses are used, and only in the namespaces made here.

V_IN=dvi$$ V_PX=dvp$$ V_OUT=dvo$$ V_FW=dvf$$
IN4=192.0.2.2 PX4=203.0.113.2 OUT4=198.51.100.2
SESSION_PORT=4430

# _via_link NS IF FWIF ADDR GW: a host on its own link to the firewall.
_via_link() {
	local ns=$1 hif=$2 fif=$3 addr=$4 gw=$5
	netns_add "$ns"
	ip link add "$hif" netns "$ns" type veth peer name "$fif" netns "$V_FW" ||
		fail "cannot create veth for $ns"
	ip -n "$ns" addr add "$addr/24" dev "$hif"
	ip -n "$ns" link set "$hif" up
	ip -n "$ns" route add default via "$gw"
	ip -n "$V_FW" addr add "$gw/24" dev "$fif"
	ip -n "$V_FW" link set "$fif" up
}

# via_site_up PROXY_PORTS: the four namespaces and the firewall; PROXY_PORTS
# is an nft set body, e.g. "1080, 1081".
via_site_up() {
	local ports=$1
	need_root
	need_cmd nft ip unshare curl python3
	netns_add "$V_FW"
	ip netns exec "$V_FW" sysctl -qw net.ipv4.ip_forward=1
	_via_link "$V_IN" hin fwi "$IN4" 192.0.2.1
	_via_link "$V_PX" hpx fwp "$PX4" 203.0.113.1
	_via_link "$V_OUT" hout fwo "$OUT4" 198.51.100.1
	ip netns exec "$V_FW" nft -f - <<NFT || fail "cannot load nftables rules"
table inet dynpass_via {
	chain forward {
		type filter hook forward priority 0; policy drop;
		ct state established,related accept
		iifname "fwi" oifname "fwp" ip daddr $PX4 tcp dport { $ports } ct state new accept
		iifname "fwp" oifname "fwo" ip daddr $OUT4 tcp dport $SESSION_PORT ct state new accept
	}
}
NFT
	chmod 755 "$T"
}

# via_blocked NS ADDR PORT WHAT: a TCP connect from NS to ADDR:PORT fails.
via_blocked() {
	ip netns exec "$1" python3 - "$2" "$3" <<'PY' ||
import socket, sys
s = socket.socket()
s.settimeout(2)
try:
    s.connect((sys.argv[1], int(sys.argv[2])))
except OSError:
    sys.exit(0)
sys.exit(1)
PY
		fail "$4: $1 reaches $2:$3 directly: the firewall is open"
	ok "$4: $2:$3 is not reachable directly"
}

# via_open NS ADDR PORT WHAT: a TCP connect from NS to ADDR:PORT works.
via_open() {
	ip netns exec "$1" python3 - "$2" "$3" <<'PY' ||
import socket, sys
s = socket.socket()
s.settimeout(3)
s.connect((sys.argv[1], int(sys.argv[2])))
PY
		fail "$4: cannot reach $2:$3"
}

# wait_listen NS PORT WHAT: until something listens on TCP PORT in NS.
wait_listen() {
	local i
	for i in $(seq 100); do
		ip netns exec "$1" ss -Hltn "sport = :$2" | grep -q . && return 0
		sleep 0.1
	done
	fail "$3 did not listen on port $2"
}

# via_files: an /etc/hosts naming the esp "esp.test" (only the proxy may
# resolve it) and passwd/shadow with a user alice, password s3cret, for
# mounting over /etc in the proxy's own mount namespace.
via_files() {
	mkdir -p "$T/etc"
	printf '127.0.0.1 localhost\n%s esp.test\n' "$OUT4" >"$T/etc/hosts"
	cp /etc/passwd "$T/etc/passwd"
	cp /etc/shadow "$T/etc/shadow" 2>/dev/null || : >"$T/etc/shadow"
	echo "alice:x:64999:65534:via test:/nonexistent:/usr/sbin/nologin" >>"$T/etc/passwd"
	echo "alice:$(openssl passwd -6 s3cret):19000:0:99999:7:::" >>"$T/etc/shadow"
	chmod 644 "$T/etc/hosts" "$T/etc/passwd"
	chmod 600 "$T/etc/shadow"
}

# in_proxy LOG CMD...: start CMD in the proxy namespace, in a private mount
# namespace that sees $T/etc/{hosts,passwd,shadow}; sets BG_PID.
in_proxy() {
	local log=$1
	shift
	bg_start "$log" ip netns exec "$V_PX" unshare -m --propagation private \
		sh -c 'for f in hosts passwd shadow; do
			mount --bind "$0/etc/$f" "/etc/$f" || exit 1
		done
		exec "$@"' "$T" "$@"
}

# via_pair ISP_VIA [ESP_NAME]: esp outside, isp inside dialling ESP_NAME
# (default the esp's address) through the proxy; sets ESP_PID, ISP_PID.
# The esp is started only once.
via_pair() {
	local via=$1 name=${2:-$OUT4}
	NETNS_ESP=$V_OUT NETNS_ISP=$V_IN
	ESP_ADDR=$OUT4 SOCKS_ADDR=127.0.0.1 SOCKS_PORT=1080
	ALLOW="$IN4/32:$HTTP_PORT"
	ISP_EXTRA="via = $via
connect_timeout = 3s"
	[ -f "$T/pair.psk" ] || write_psk "$T/pair.psk"
	isp_conf "$T/isp.conf"
	sed -i "s/^esp .*/esp   = $name:$SESSION_PORT/" "$T/isp.conf"
	if [ -z "${ESP_PID:-}" ]; then
		esp_conf "$T/esp.conf"
		esp_start
		wait_for_log "$ESP_LOG" "listening for SOCKS5" 10
	fi
	isp_start
}

# isp_stop: stop the isp and wait for it.
isp_stop() {
	kill "$ISP_PID" 2>/dev/null
	wait "$ISP_PID" 2>/dev/null
	ISP_PID=
}

# fetch_check WHAT: the outside client fetches the inside file through the
# esp's SOCKS door; its SHA-256 must match.
fetch_check() {
	rm -f "$T/got"
	ip netns exec "$V_OUT" curl -sS --fail --max-time 30 \
		--socks5-hostname 127.0.0.1:1080 -o "$T/got" \
		"http://$IN4:$HTTP_PORT/file" 2>"$T/curl.err" ||
		fail "$1: curl through the esp failed: $(cat "$T/curl.err")"
	[ "$(sha "$T/got")" = "$(sha "$T/www/file")" ] ||
		fail "$1: the file arrived changed (SHA-256 differs)"
	ok "$1: the client fetched the inside file intact"
}

# via_common_setup PORTS: site, the inside web server, the blocked paths.
via_common_setup() {
	via_site_up "$1"
	via_files
	mkdir -p "$T/www"
	head -c $((4 * 1024 * 1024)) /dev/urandom >"$T/www/file"
	NETNS=$V_IN http_start "$T/www" "$IN4"
	# The esp listens first, so a failed connect means the firewall.
	bg_start "$T/probe.log" ip netns exec "$V_OUT" python3 -c '
import socket, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("'"$OUT4"'", '"$SESSION_PORT"')); s.listen(8); time.sleep(60)'
	PROBE_PID=$BG_PID
	wait_listen "$V_OUT" "$SESSION_PORT" "the probe listener"
	via_blocked "$V_IN" "$OUT4" "$SESSION_PORT" "inside -> esp"
	via_open "$V_PX" "$OUT4" "$SESSION_PORT" "proxy -> esp"
	ok "proxy -> esp:$SESSION_PORT is open"
	kill "$PROBE_PID"
	wait "$PROBE_PID" 2>/dev/null
	via_blocked "$V_OUT" "$IN4" "$HTTP_PORT" "outside -> inside server"
}
