# An emulated WAN link with a fixed one-way delay, for tests and benchmarks.
# POSIX sh; source it (after tests/lib.sh, or with TOP set to the tree):
#
#   . "$TOP/tests/wan.sh"
#   wan_up dpw1 10      # 10 ms each way: a round trip costs 20 ms
#   ip netns exec dpw1s some-server 10.77.0.2 ... &
#   ip netns exec dpw1c some-client 10.77.0.2 ...
#   wan_down dpw1
#
#   ${PREFIX}c  wan0 10.77.0.1/24 fd00:77::1/64     (client side)
#        |  veth
#   ${PREFIX}w  wc <- delaybridge -d DELAY_MS -> ws    (no addresses)
#        |  veth
#   ${PREFIX}s  wan0 10.77.0.2/24 fd00:77::2/64     (server side)
#
# The kernel may lack the netem qdisc, so the delay is added in user space
# by build/tests/tools/delaybridge (`make tests`; DELAYBRIDGE=PATH to use
# another). It bridges every frame (ARP and IPv6 ND too), so the two ends
# are on one Ethernet segment. MTU 1500 everywhere, loopback up in each
# namespace; the ends keep their offloads (delaybridge passes GSO frames
# and partial checksums through), unless WAN_OFFLOADS=off, which turns off
# TSO/GSO/GRO and checksum offload with ethtool so that every frame on the
# link is at most 1514 bytes (slower: more frames through user space).
# WAN_BRIDGE_OPTS adds options to delaybridge (e.g. "-q 1000 -b 4" for a
# shallower queue; see its usage).
#
# wan_up PREFIX DELAY_MS: build it (first removing any leftover of an
# earlier run under the same PREFIX), start the bridge, check that a ping
# crosses it. Sets WAN_PID (the bridge), WAN_LOG (its stderr), and
# WAN_C4 WAN_S4 WAN_C6 WAN_S6 (the addresses; the IPv6 ones empty when the
# kernel has no IPv6). DELAY_MS may have a fraction (0.5) and may be 0.
# wan_down PREFIX: stop the bridge (its final counters go to stderr),
# delete the three namespaces, check they are gone.
# wan_ping NS ADDR [COUNT [INTERVAL_S]]: ICMP echo (v4 or v6) from namespace
# NS, one at a time (default 10, 0.05 s apart); prints
# "rtt min/avg/max = A/B/C ms, R/N received" like ping's summary; fails
# when nothing came back. In python3, since iputils ping may be missing.
# Each returns non-zero, with a "wan_up: ..." (or wan_down, wan_ping) line
# on stderr, when it cannot do its work, e.g. when not run as root: a test
# should check for root first and print "skip: ..." and exit 77 itself.
# PREFIX must be unique among concurrent users (tests use one with $$).

WAN_C4=10.77.0.1
WAN_S4=10.77.0.2
WAN_C6=fd00:77::1
WAN_S6=fd00:77::2
WAN_PID=
WAN_LOG=

# One echo at a time over a raw socket: the kernel fills in the ICMPv6
# checksum, the ICMP one is computed here.
_WAN_PING_PY='
import os, select, socket, struct, sys, time
addr, count, gap = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
wait = float(sys.argv[4])
v6 = ":" in addr
if v6:
    s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    req, rep = 128, 129
else:
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    req, rep = 8, 0
ident = os.getpid() & 0xFFFF
def csum(b):
    t = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    t = (t >> 16) + (t & 0xFFFF)
    t += t >> 16
    return ~t & 0xFFFF
rtts = []
for seq in range(count):
    body = bytes(56)
    pkt = struct.pack("!BBHHH", req, 0, 0, ident, seq) + body
    if not v6:
        pkt = struct.pack("!BBHHH", req, 0, csum(pkt), ident, seq) + body
    t0 = time.monotonic()
    s.sendto(pkt, (addr, 0))
    end = t0 + wait
    while True:
        left = end - time.monotonic()
        if left <= 0 or not select.select([s], [], [], left)[0]:
            break
        d = s.recv(4096)
        now = time.monotonic()
        if not v6:
            d = d[(d[0] & 15) * 4:]
        if len(d) < 8:
            continue
        typ, _, _, rid, rseq = struct.unpack("!BBHHH", d[:8])
        if (typ, rid, rseq) == (rep, ident, seq):
            rtts.append((now - t0) * 1000)
            break
    left = t0 + gap - time.monotonic()
    if left > 0 and seq + 1 < count:
        time.sleep(left)
if not rtts:
    print("no reply from %s, 0/%d received" % (addr, count))
    sys.exit(1)
print("rtt min/avg/max = %.3f/%.3f/%.3f ms, %d/%d received" % (min(rtts),
      sum(rtts) / len(rtts), max(rtts), len(rtts), count))
'

_wan_err() {
	echo "$_wan_fn: $*" >&2
	return 1
}

# _wan_check PREFIX: root, ip, a sane prefix.
_wan_check() {
	if [ "$(id -u)" != 0 ]; then
		_wan_err "needs root for network namespaces (uid $(id -u))"
		return 1
	fi
	command -v ip >/dev/null 2>&1 || { _wan_err "needs ip (iproute2)"; return 1; }
	case $1 in
	"" | *[!A-Za-z0-9_-]*) _wan_err "bad prefix '$1' (letters, digits, - and _)"; return 1 ;;
	esac
	return 0
}

_wan_state() { echo "${TMPDIR:-/tmp}/dynpass-wan-$1"; }

# _wan_alive PID: the process exists and is not a zombie.
_wan_alive() {
	[ -r "/proc/$1/stat" ] || return 1
	# Field 3 is the state; the name in (...) may hold spaces.
	case $(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) in
	Z | X | "") return 1 ;;
	esac
	return 0
}

# _wan_stop PID...: TERM, wait up to 3 s, then KILL; reap our children.
_wan_stop() {
	for _wan_p in "$@"; do kill -TERM "$_wan_p" 2>/dev/null; done
	_wan_i=0
	while [ $_wan_i -lt 30 ]; do
		_wan_left=
		for _wan_p in "$@"; do _wan_alive "$_wan_p" && _wan_left=1; done
		[ -z "$_wan_left" ] && break
		sleep 0.1
		_wan_i=$((_wan_i + 1))
	done
	for _wan_p in "$@"; do
		_wan_alive "$_wan_p" && kill -KILL "$_wan_p" 2>/dev/null
		wait "$_wan_p" 2>/dev/null
	done
	return 0
}

_wan_ns_exists() { [ -e "/run/netns/$1" ]; }

wan_ping() {
	_wan_fn=wan_ping
	[ $# -ge 2 ] || { _wan_err "usage: wan_ping NS ADDR [COUNT [INTERVAL_S]]"; return 1; }
	# A reply later than 2 s (plus the interval) counts as lost.
	ip netns exec "$1" python3 -c "$_WAN_PING_PY" "$2" "${3:-10}" "${4:-0.05}" \
	    "${WAN_PING_WAIT:-2}"
}

# _wan_carrier NS IF: wait up to 3 s for the link to have carrier (veth
# reports it through linkwatch, which may lag up to a second).
_wan_carrier() {
	_wan_i=0
	while [ $_wan_i -lt 30 ]; do
		case $(ip -n "$1" link show dev "$2" 2>/dev/null) in
		*NO-CARRIER*) ;;
		*LOWER_UP*) return 0 ;;
		esac
		sleep 0.1
		_wan_i=$((_wan_i + 1))
	done
	_wan_err "no carrier on $2 in $1"
}

wan_down() {
	_wan_fn=wan_down
	[ $# = 1 ] || { _wan_err "usage: wan_down PREFIX"; return 1; }
	_wan_check "$1" || return 1
	_wan_st=$(_wan_state "$1")
	_wan_pids=
	# The bridge: from the pid file if it is still a delaybridge, and
	# whatever else still runs in the middle namespace (only the bridge
	# is ever started there).
	if [ -f "$_wan_st.pid" ]; then
		_wan_p=$(cat "$_wan_st.pid")
		case $_wan_p in
		*[!0-9]* | "") ;;
		*) [ "$(cat "/proc/$_wan_p/comm" 2>/dev/null)" = delaybridge ] &&
			_wan_pids=$_wan_p ;;
		esac
	fi
	if _wan_ns_exists "${1}w"; then
		for _wan_p in $(ip netns pids "${1}w" 2>/dev/null); do
			case " $_wan_pids " in *" $_wan_p "*) ;; *) _wan_pids="$_wan_pids $_wan_p" ;; esac
		done
	fi
	# shellcheck disable=SC2086
	[ -n "$_wan_pids" ] && _wan_stop $_wan_pids
	if [ -f "$_wan_st.log" ]; then
		grep -E '^delaybridge: .* -> ' "$_wan_st.log" >&2
		rm -f "$_wan_st.log"
	fi
	rm -f "$_wan_st.pid"
	for _wan_n in "${1}w" "${1}c" "${1}s"; do
		_wan_ns_exists "$_wan_n" && ip netns del "$_wan_n" 2>/dev/null
	done
	for _wan_n in "${1}w" "${1}c" "${1}s"; do
		_wan_ns_exists "$_wan_n" && { _wan_err "namespace $_wan_n is still there"; return 1; }
	done
	WAN_PID=
	return 0
}

wan_up() {
	_wan_fn=wan_up
	[ $# = 2 ] || { _wan_err "usage: wan_up PREFIX DELAY_MS"; return 1; }
	_wan_check "$1" || return 1
	case $2 in
	"" | *[!0-9.]* | *.*.* | .*) _wan_err "bad delay '$2' (milliseconds, e.g. 10 or 0.5)"; return 1 ;;
	esac
	_wan_bin=${DELAYBRIDGE:-${TOP:-.}/build/tests/tools/delaybridge}
	[ -x "$_wan_bin" ] ||
		{ _wan_err "no delaybridge at $_wan_bin (run make tests, or set DELAYBRIDGE)"; return 1; }
	_wan_w=${1}w _wan_c=${1}c _wan_s=${1}s
	_wan_st=$(_wan_state "$1")

	wan_down "$1" 2>/dev/null
	_wan_fn=wan_up
	for _wan_n in "$_wan_w" "$_wan_c" "$_wan_s"; do
		_wan_ns_exists "$_wan_n" && { _wan_err "cannot remove leftover namespace $_wan_n"; return 1; }
		ip netns add "$_wan_n" || { _wan_err "cannot create namespace $_wan_n"; return 1; }
		ip -n "$_wan_n" link set lo up
	done
	# The middle has no addresses and must not speak on the link itself
	# (IPv6 would send router solicitations and MLD reports).
	ip netns exec "$_wan_w" sh -c 'sysctl -qw net.ipv6.conf.all.disable_ipv6=1 &&
		sysctl -qw net.ipv6.conf.default.disable_ipv6=1' 2>/dev/null
	ip -n "$_wan_w" link add name wc mtu 1500 type veth peer name wan0 netns "$_wan_c" mtu 1500 &&
		ip -n "$_wan_w" link add name ws mtu 1500 type veth peer name wan0 netns "$_wan_s" mtu 1500 ||
		{ _wan_err "cannot create the veth pairs"; wan_down "$1" 2>/dev/null; return 1; }
	ip -n "$_wan_c" addr add "$WAN_C4/24" dev wan0 &&
		ip -n "$_wan_s" addr add "$WAN_S4/24" dev wan0 ||
		{ _wan_err "cannot add addresses"; wan_down "$1" 2>/dev/null; return 1; }
	# IPv6 if the kernel has it (nodad: usable at once).
	WAN_C6=fd00:77::1 WAN_S6=fd00:77::2
	ip -n "$_wan_c" addr add "$WAN_C6/64" dev wan0 nodad 2>/dev/null &&
		ip -n "$_wan_s" addr add "$WAN_S6/64" dev wan0 nodad 2>/dev/null ||
		WAN_C6= WAN_S6=
	if [ "${WAN_OFFLOADS:-on}" = off ]; then
		command -v ethtool >/dev/null 2>&1 ||
			{ _wan_err "WAN_OFFLOADS=off needs ethtool"; wan_down "$1" 2>/dev/null; return 1; }
		for _wan_n in "$_wan_c:wan0" "$_wan_s:wan0" "$_wan_w:wc" "$_wan_w:ws"; do
			ip netns exec "${_wan_n%%:*}" ethtool -K "${_wan_n#*:}" \
			    tso off gso off gro off tx off rx off >/dev/null 2>&1 ||
				{ _wan_err "ethtool -K ${_wan_n#*:} failed"; wan_down "$1" 2>/dev/null; return 1; }
		done
	fi
	ip -n "$_wan_w" link set wc up && ip -n "$_wan_w" link set ws up &&
		ip -n "$_wan_c" link set wan0 up && ip -n "$_wan_s" link set wan0 up ||
		{ _wan_err "cannot bring the links up"; wan_down "$1" 2>/dev/null; return 1; }
	for _wan_n in "$_wan_c:wan0" "$_wan_s:wan0" "$_wan_w:wc" "$_wan_w:ws"; do
		_wan_carrier "${_wan_n%%:*}" "${_wan_n#*:}" || { wan_down "$1" 2>/dev/null; return 1; }
	done

	WAN_LOG=$_wan_st.log
	# shellcheck disable=SC2086
	ip netns exec "$_wan_w" "$_wan_bin" ${WAN_BRIDGE_OPTS:-} -d "$2" wc ws >"$WAN_LOG" 2>&1 &
	WAN_PID=$!
	echo "$WAN_PID" >"$_wan_st.pid"
	_wan_i=0
	while ! grep -q '^delaybridge: bridging' "$WAN_LOG" 2>/dev/null; do
		if ! _wan_alive "$WAN_PID" || [ $_wan_i -ge 50 ]; then
			_wan_err "delaybridge did not start: $(tail -n 3 "$WAN_LOG" 2>/dev/null)"
			wan_down "$1" 2>/dev/null
			return 1
		fi
		sleep 0.1
		_wan_i=$((_wan_i + 1))
	done
	# One ping each way and family: the link works, and ARP and ND
	# entries are in place before anything is measured.
	_wan_wait=$(awk -v d="$2" 'BEGIN { printf "%.3f", 2 + 3 * d / 1000 }')
	if ! WAN_PING_WAIT=$_wan_wait wan_ping "$_wan_c" "$WAN_S4" 1 >/dev/null 2>&1 ||
	    ! WAN_PING_WAIT=$_wan_wait wan_ping "$_wan_s" "$WAN_C4" 1 >/dev/null 2>&1 ||
	    { [ -n "$WAN_S6" ] &&
	    ! WAN_PING_WAIT=$_wan_wait wan_ping "$_wan_c" "$WAN_S6" 1 >/dev/null 2>&1; }; then
		_wan_fn=wan_up
		_wan_err "no ping across the bridge ($WAN_C4 <-> $WAN_S4): $(tail -n 3 "$WAN_LOG")"
		wan_down "$1" 2>/dev/null
		return 1
	fi
	return 0
}
