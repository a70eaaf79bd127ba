# A site with a one-port firewall, in network namespaces, for end-to-end
# tests. Source after lib.sh; call site_up.
#
#   outside 198.51.100.0/24, 2001:db8:2::/64     inside 192.0.2.0/24, 2001:db8:1::/64
#     client .3 / ::3  --+                        +-- isp    .2 / ::2
#     esp    .2 / ::2  --+-- [fw .1 / ::1] -------+-- server .3 / ::3
#                                                 +-- peer   .4 / ::4 (site_add_peer)
# The firewall forwards only new connections from inside to the esp's
# session port, and their replies. Only these documentation addresses
# are used, and only inside the namespaces the test made.

S_CLIENT=dpc$$ S_ESP=dpe$$ S_FW=dpf$$ S_ISP=dpi$$ S_SERVER=dps$$ S_PEER=dpp$$
CLIENT4=198.51.100.3 ESP4=198.51.100.2 ISP4=192.0.2.2 SERVER4=192.0.2.3
PEER4=192.0.2.4
CLIENT6=2001:db8:2::3 ESP6=2001:db8:2::2 ISP6=2001:db8:1::2 SERVER6=2001:db8:1::3

# _site_host NS BRIDGE V4 V6 GW4 GW6: a host on one of the fw's bridges.
_site_host() {
	local ns=$1 br=$2 v4=$3 v6=$4 gw4=$5 gw6=$6
	netns_add "$ns"
	ip link add "h$ns" netns "$ns" type veth peer name "p$ns" netns "$S_FW" ||
		fail "cannot create veth for $ns"
	ip -n "$S_FW" link set "p$ns" master "$br" up
	ip -n "$ns" addr add "$v4/24" dev "h$ns"
	ip -n "$ns" addr add "$v6/64" dev "h$ns" nodad
	ip -n "$ns" link set "h$ns" up
	ip -n "$ns" route add default via "$gw4"
	ip -n "$ns" -6 route add default via "$gw6"
}

# site_up PORT: build the five hosts and the firewall passing PORT.
site_up() {
	local port=$1
	need_root
	command -v nft >/dev/null || skip "needs nft (nftables)"
	netns_add "$S_FW"
	ip netns exec "$S_FW" sysctl -qw net.ipv4.ip_forward=1
	ip netns exec "$S_FW" sysctl -qw net.ipv6.conf.all.forwarding=1
	# Frames within one segment are bridged, not routed: keep them out of
	# the forward chain even where br_netfilter is loaded.
	for f in iptables ip6tables arptables; do
		ip netns exec "$S_FW" sysctl -qw "net.bridge.bridge-nf-call-$f=0" 2>/dev/null
	done
	for br in bo bi; do
		ip -n "$S_FW" link add "$br" type bridge || fail "cannot create bridge"
		ip -n "$S_FW" link set "$br" up
	done
	ip -n "$S_FW" addr add 198.51.100.1/24 dev bo
	ip -n "$S_FW" addr add 2001:db8:2::1/64 dev bo nodad
	ip -n "$S_FW" addr add 192.0.2.1/24 dev bi
	ip -n "$S_FW" addr add 2001:db8:1::1/64 dev bi nodad
	_site_host "$S_CLIENT" bo $CLIENT4 $CLIENT6 198.51.100.1 2001:db8:2::1
	_site_host "$S_ESP" bo $ESP4 $ESP6 198.51.100.1 2001:db8:2::1
	_site_host "$S_ISP" bi $ISP4 $ISP6 192.0.2.1 2001:db8:1::1
	_site_host "$S_SERVER" bi $SERVER4 $SERVER6 192.0.2.1 2001:db8:1::1
	ip netns exec "$S_FW" nft -f - <<NFT || fail "cannot load nftables rules"
table inet dynpass_site {
	chain forward {
		type filter hook forward priority 0; policy drop;
		ct state established,related accept
		iifname "bi" oifname "bo" tcp dport $port ct state new accept
	}
}
NFT
}

# site_add_peer: a sixth host inside, 192.0.2.4 (an IRC client, say).
site_add_peer() {
	_site_host "$S_PEER" bi $PEER4 2001:db8:1::4 192.0.2.1 2001:db8:1::1
}

# site_add_stranger: a third host outside, 198.51.100.5, that is neither
# the client nor the esp (what an FTP bounce would aim at).
S_STRANGER=dpx$$ STRANGER4=198.51.100.5
site_add_stranger() {
	_site_host "$S_STRANGER" bo $STRANGER4 2001:db8:2::5 198.51.100.1 2001:db8:2::1
}

# site_check_blocked PORT: the client cannot reach the server directly.
site_check_blocked() {
	ip netns exec "$S_CLIENT" python3 - "$SERVER4" "$1" <<'PY' ||
import socket, sys
s = socket.socket()
s.settimeout(3)
try:
    s.connect((sys.argv[1], int(sys.argv[2])))
except OSError:
    sys.exit(0)
sys.exit(1)
PY
		fail "the client reaches $SERVER4:$1 directly: the firewall is open"
	ok "direct path client -> server:$1 is blocked by the firewall"
}

# site_vsftpd: vsftpd in the server host on port 21, anonymous, serving
# $T/ftp in active and passive mode; waits until it listens.
site_vsftpd() {
	mkdir -p "$T/ftp" "$T/empty"
	cat >"$T/vsftpd.conf" <<CONF
listen=YES
background=NO
anonymous_enable=YES
local_enable=NO
anon_root=$T/ftp
no_anon_password=YES
pasv_enable=YES
port_enable=YES
connect_from_port_20=NO
seccomp_sandbox=NO
secure_chroot_dir=$T/empty
xferlog_enable=NO
CONF
	bg_start "$T/vsftpd.log" ip netns exec "$S_SERVER" vsftpd "$T/vsftpd.conf"
	for i in $(seq 50); do
		ip netns exec "$S_SERVER" ss -ltn | grep -q ':21 ' && return 0
		sleep 0.1
	done
	fail "vsftpd does not listen: $(cat "$T/vsftpd.log")"
}

# site_add_home: a client host behind a home router that masquerades, as
# on a café's Wi-Fi: home 10.9.0.2 -> router 10.9.0.1 / 198.51.100.4 on
# the outside segment. Nothing outside can connect to the home host.
S_NAT=dpn$$ S_HOME=dph$$ HOME4=10.9.0.2 NATOUT4=198.51.100.4
site_add_home() {
	netns_add "$S_NAT"
	netns_add "$S_HOME"
	ip link add "h$S_NAT" netns "$S_NAT" type veth peer name "p$S_NAT" \
		netns "$S_FW" || fail "cannot create veth for the router"
	ip -n "$S_FW" link set "p$S_NAT" master bo up
	ip -n "$S_NAT" addr add "$NATOUT4/24" dev "h$S_NAT"
	ip -n "$S_NAT" link set "h$S_NAT" up
	ip -n "$S_NAT" route add default via 198.51.100.1
	ip link add "h$S_HOME" netns "$S_HOME" type veth peer name "n$S_HOME" \
		netns "$S_NAT" || fail "cannot create veth for the home host"
	ip -n "$S_NAT" addr add 10.9.0.1/24 dev "n$S_HOME"
	ip -n "$S_NAT" link set "n$S_HOME" up
	ip -n "$S_HOME" addr add "$HOME4/24" dev "h$S_HOME"
	ip -n "$S_HOME" link set "h$S_HOME" up
	ip -n "$S_HOME" route add default via 10.9.0.1
	ip netns exec "$S_NAT" sysctl -qw net.ipv4.ip_forward=1
	ip netns exec "$S_NAT" nft -f - <<NFT || fail "cannot load the router's rules"
table ip dynpass_home {
	chain forward {
		type filter hook forward priority 0; policy drop;
		ct state established,related accept
		iifname "n$S_HOME" ct state new accept
	}
	chain post {
		type nat hook postrouting priority 100;
		oifname "h$S_NAT" masquerade
	}
}
NFT
}

# site_agent_door: the esp's client door on $ESP4:4431 in ESP_EXTRA, with
# its certificate (esp-door) under the CA agentca (tests/pki.sh).
site_agent_door() {
	pki_ca agentca
	pki_cert esp-door agentca esp "IP:$ESP4"
	ESP_EXTRA="client_listen = $ESP4:4431
[client_tls]
cert = $T/esp-door.crt
key = $T/esp-door.key
[esp]"
}
