# A one-port firewall in network namespaces, for tests that need a real
# blocked path. Source after lib.sh; call netns_firewall_up.
#
#   inside  192.0.2.2      --  fw 192.0.2.1 | 198.51.100.1  --  outside 198.51.100.2
#   (isp, servers)             nftables: forward only          (esp, clients)
#                              inside -> outside:SESSION_PORT
#
# Only these test-net addresses are used, and only inside the namespaces.

NS_IN=dpi$$ NS_FW=dpf$$ NS_OUT=dpo$$
IN_ADDR=192.0.2.2 OUT_ADDR=198.51.100.2

# Build the three hosts and the firewall that forwards one port.
netns_firewall_up() {
	local port=$1
	need_root
	command -v nft >/dev/null || skip "needs nft (nftables)"
	netns_add "$NS_IN"
	netns_add "$NS_FW"
	netns_add "$NS_OUT"
	ip link add "i$$" netns "$NS_IN" type veth peer name "fi$$" netns "$NS_FW" ||
		fail "cannot create veth pair"
	ip link add "o$$" netns "$NS_OUT" type veth peer name "fo$$" netns "$NS_FW" ||
		fail "cannot create veth pair"
	ip -n "$NS_IN" addr add 192.0.2.2/24 dev "i$$"
	ip -n "$NS_FW" addr add 192.0.2.1/24 dev "fi$$"
	ip -n "$NS_FW" addr add 198.51.100.1/24 dev "fo$$"
	ip -n "$NS_OUT" addr add 198.51.100.2/24 dev "o$$"
	ip -n "$NS_IN" link set "i$$" up
	ip -n "$NS_FW" link set "fi$$" up
	ip -n "$NS_FW" link set "fo$$" up
	ip -n "$NS_OUT" link set "o$$" up
	ip -n "$NS_IN" route add default via 192.0.2.1
	ip -n "$NS_OUT" route add default via 198.51.100.1
	ip netns exec "$NS_FW" sysctl -qw net.ipv4.ip_forward=1
	ip netns exec "$NS_FW" nft -f - <<NFT || fail "cannot load nftables rules"
table inet dynpass_fw {
	chain forward {
		type filter hook forward priority 0; policy drop;
		ct state established,related accept
		iifname "fi$$" oifname "fo$$" tcp dport $port ct state new accept
	}
}
NFT
}

# Silently drop the session's packets both ways (no FIN, no RST).
netns_blackhole_on() {
	ip netns exec "$NS_FW" nft insert rule inet dynpass_fw forward tcp dport "$1" drop
	ip netns exec "$NS_FW" nft insert rule inet dynpass_fw forward tcp sport "$1" drop
}

# Let it through again.
netns_blackhole_off() {
	ip netns exec "$NS_FW" nft flush chain inet dynpass_fw forward
	ip netns exec "$NS_FW" nft add rule inet dynpass_fw forward ct state established,related accept
	ip netns exec "$NS_FW" nft add rule inet dynpass_fw forward iifname "fi$$" oifname "fo$$" tcp dport "$1" ct state new accept
}
