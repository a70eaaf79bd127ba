# bench/lib.sh: shell shared by bench/run (loopback) and bench/path (a
# routed path in network namespaces). Bash; source it after setting
#
#   W      the work directory (logs, keys, configs)
#   DATA   the figures recorded so far: "figure path rep value", tab-separated
#   PATHS  the paths measured, in order
#   TOOLS  bench/bin;  BULK_SECS, CONN_SECS: the runs' lengths
#
# and defining say MESSAGE and on_cmd PATH KIND TOOL ARGS... (sets CMD to
# the command line that runs a bench tool over PATH toward the sink or the
# echo server).

_PIDS=""

die() { say "error: $*"; _dump_logs; exit 1; }

# Print the tail of every daemon log, to explain a failure.
_dump_logs() {
	local f
	for f in "$W"/*.log; do
		[ -s "$f" ] || continue
		echo "--- $(basename "$f") (last 15 lines)" >&2
		tail -n 15 "$f" >&2
	done
}

# Stop every daemon this script started: TERM, then KILL what is left.
stop_all() {
	local p
	for p in $_PIDS; do kill "$p" 2>/dev/null; done
	for p in $_PIDS; do
		for _ in 1 2 3 4 5 6 7 8 9 10; do
			kill -0 "$p" 2>/dev/null || break
			sleep 0.1
		done
		kill -9 "$p" 2>/dev/null
	done
	for p in $_PIDS; do wait "$p" 2>/dev/null; done
	_PIDS=""
}

# bg LOG CMD...: start a daemon in the background; sets BG_PID.
bg() {
	local log=$1
	shift
	"$@" >"$log" 2>&1 &
	BG_PID=$!
	_PIDS="$_PIDS $BG_PID"
}

# wait_log FILE REGEX SECONDS: wait for a line in a log.
wait_log() {
	local i=0
	while [ $i -lt $(($3 * 10)) ]; do
		grep -Eq "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
		i=$((i + 1))
	done
	die "timed out waiting for /$2/ in $(basename "$1")"
}

# wait_port PORT SECONDS [NETNS]: wait until something listens on PORT.
wait_port() {
	local i=0 in=()
	[ -n "${3:-}" ] && in=(ip netns exec "$3")
	while [ $i -lt $(($2 * 10)) ]; do
		"${in[@]}" ss -Hltn "sport = :$1" 2>/dev/null | grep -q . && return 0
		sleep 0.1
		i=$((i + 1))
	done
	die "nothing listens on port $1${3:+ in $3} after $2 s"
}

# install_peers [COMMAND:PACKAGE...]: iperf3, openssh-server, stunnel4,
# socat (and the extra packages named) from Debian if missing.
install_peers() {
	local missing="" x
	command -v iperf3 >/dev/null || missing="$missing iperf3"
	[ -x /usr/sbin/sshd ] || missing="$missing openssh-server"
	command -v ssh >/dev/null || missing="$missing openssh-client"
	command -v stunnel4 >/dev/null || command -v stunnel >/dev/null ||
		missing="$missing stunnel4"
	command -v socat >/dev/null || missing="$missing socat"
	command -v ss >/dev/null || missing="$missing iproute2"
	for x in "$@"; do
		command -v "${x%%:*}" >/dev/null || missing="$missing ${x#*:}"
	done
	[ -z "$missing" ] && return 0
	[ "${BENCH_NO_INSTALL:-0}" = 1 ] && die "missing:$missing"
	say "installing$missing"
	DEBIAN_FRONTEND=noninteractive apt-get update -q >"$W/apt.log" 2>&1 &&
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing \
			>>"$W/apt.log" 2>&1 || { cat "$W/apt.log" >&2; die "apt-get failed"; }
}

# raise_nofile: ulimit -n as high as it goes, for IDLE_N idle channels;
# sets NOFILE and IDLE_N2 (stunnel's share).
# 10,000 idle channels take about four descriptors each across the
# daemons, the opener and the echo server; children inherit this limit.
# Where the hard limit cannot be raised (no CAP_SYS_RESOURCE), use what there
# is: the relays that hold two descriptors per channel get fewer channels;
# the figure is per channel either way.
raise_nofile() {
	ulimit -Hn 65536 2>/dev/null
	ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" ||
		die "cannot raise ulimit -n"
	NOFILE=$(ulimit -n)
	# stunnel takes at most ulimit -n * 125 / 256 clients per process.
	IDLE_N2=$((NOFILE * 125 / 256 - 16))
	[ "$IDLE_N2" -gt "$IDLE_N" ] && IDLE_N2=$IDLE_N
	[ "$NOFILE" -lt 65536 ] && say "ulimit -n is $NOFILE (hard limit); stunnel gets $IDLE_N2 idle channels"
	[ $((IDLE_N + 200)) -gt "$NOFILE" ] && die "ulimit -n $NOFILE is too low for $IDLE_N idle channels (BENCH_IDLE)"
	return 0
}

# make_keys: the pair's PSK, ssh host and user keys, stunnel's certificate,
# all fresh and private to this run.
make_keys() {
	(umask 077
	openssl rand -hex 32 >"$W/pair.psk" &&
	ssh-keygen -q -t ed25519 -N '' -f "$W/ssh_host_key" &&
	ssh-keygen -q -t ed25519 -N '' -f "$W/id_user" &&
	cp "$W/id_user.pub" "$W/authorized_keys" &&
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-keyout "$W/stunnel.key" -out "$W/stunnel.crt" -days 2 \
		-subj /CN=bench.invalid 2>/dev/null)
}

# sshd_conf FILE PORT ADDRESS [LINE...]: a private sshd, key login for root,
# aes128-gcm only.
sshd_conf() {
	local f=$1 port=$2 addr=$3
	shift 3
	cat >"$f" <<CONF
Port $port
ListenAddress $addr
HostKey $W/ssh_host_key
PidFile none
AuthorizedKeysFile $W/authorized_keys
StrictModes no
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
UseDNS no
AllowTcpForwarding yes
Ciphers aes128-gcm@openssh.com
MaxStartups 100
LogLevel ERROR
CONF
	[ $# = 0 ] || printf '%s\n' "$@" >>"$f"
}

# The ssh client's options (then -L/-R and the destination).
SSH_OPTS=(-F /dev/null -N -T -i "$W/id_user" -c aes128-gcm@openssh.com
	-o Compression=no -o BatchMode=yes -o StrictHostKeyChecking=no
	-o UserKnownHostsFile=/dev/null -o ExitOnForwardFailure=yes
	-o LogLevel=ERROR)

# stunnel_conf FILE server|client SINK_ACCEPT SINK_CONNECT ECHO_ACCEPT
# ECHO_CONNECT: TLS 1.3 with AES-128-GCM, as dynpass and ssh use.
stunnel_conf() {
	local tls
	if [ "$2" = server ]; then
		tls="cert = $W/stunnel.crt
key = $W/stunnel.key"
	else
		tls="client = yes"
	fi
	cat >"$1" <<CONF
foreground = yes
pid =
debug = 3
$tls
sslVersionMin = TLSv1.3
ciphersuites = TLS_AES_128_GCM_SHA256
[sink]
accept = $3
connect = $4
[echo]
accept = $5
connect = $6
CONF
}

# ---------------------------------------------------------------------------
# Measurements.

# on PATH KIND SECS TOOL ARGS...: run a bench tool over PATH, bounded in time.
# --foreground: a Ctrl-C reaches the tool, and the script's INT trap runs.
on() {
	local path=$1 kind=$2 secs=$3
	shift 3
	on_cmd "$path" "$kind" "$@"
	timeout --foreground $((${secs%.*} + 60)) "${CMD[@]}"
}

# record FIGURE PATH REP VALUE
record() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$DATA"; }

# rotated REP: the paths, starting at a different one each repetition.
rotated() {
	local -a p=($PATHS)
	local n=${#p[@]} i
	for ((i = 0; i < n; i++)); do echo "${p[$(((i + $1) % n))]}"; done
}

# settle: let closed connections and daemons quiet down between runs.
settle() { sleep 0.5; }

# bulk REP STREAMS FIGURE
bulk() {
	local rep=$1 n=$2 fig=$3 path v
	for path in $(rotated "$rep"); do
		v=$(on "$path" sink "$BULK_SECS" tput send -n "$n" -t "$BULK_SECS" 2>>"$W/tools.log") || v=fail
		record "$fig" "$path" "$rep" "$v"
		say "rep $rep $fig $path: $v MB/s"
		settle
	done
}

# conns REP INFLIGHT: connections/s and latency percentiles.
conns() {
	local rep=$1 p=$2 path out
	for path in $(rotated "$rep"); do
		out=$(on "$path" echo "$CONN_SECS" connrate -p "$p" -t "$CONN_SECS" 2>>"$W/tools.log") || out="fail fail fail 0 0"
		set -- $out
		record "cps$p" "$path" "$rep" "$1"
		record "p50_$p" "$path" "$rep" "$2"
		record "p99_$p" "$path" "$rep" "$3"
		say "rep $rep conns x$p $path: $1/s p50 $2 ms p99 $3 ms (errors ${5:-?})"
		settle
	done
}

# tree_pids PID: the pid and all its descendants.
tree_pids() {
	local c
	echo "$1"
	for c in $(pgrep -P "$1"); do tree_pids "$c"; done
}

# rss_tree PID: summed VmRSS (KiB) of a process and its descendants.
rss_tree() {
	local s=0 p r
	for p in $(tree_pids "$1"); do
		r=$(awk '/^VmRSS/ {print $2}' "/proc/$p/status" 2>/dev/null)
		s=$((s + ${r:-0}))
	done
	echo "$s"
}

# idle REP PATH N CLIENT_PID SERVER_PID: RSS per idle channel of each daemon.
idle() {
	local rep=$1 path=$2 n=$3 cpid=$4 spid=$5 c0 s0 c1 s1 ipid i=0 line
	c0=$(rss_tree "$cpid")
	s0=$(rss_tree "$spid")
	on_cmd "$path" echo idle -n "$n" -w 240
	"${CMD[@]}" >"$W/idle.out" 2>&1 &	# the opener itself: $! is its pid
	ipid=$!
	while [ $i -lt 1800 ]; do	# at most 180 s to open them
		grep -q '^ready' "$W/idle.out" && break
		kill -0 "$ipid" 2>/dev/null || break
		sleep 0.1
		i=$((i + 1))
	done
	line=$(grep '^ready' "$W/idle.out")
	if [ -z "$line" ] || [ -z "$(jobs -pr | grep -x "$ipid")" ]; then
		say "rep $rep idle $path: failed: $(tail -n 2 "$W/idle.out" | tr '\n' ' ')"
		record rss_c "$path" "$rep" fail
		record rss_s "$path" "$rep" fail
		kill "$ipid" 2>/dev/null
		wait "$ipid" 2>/dev/null
		return
	fi
	sleep 2		# let the daemons finish what the last opens started
	c1=$(rss_tree "$cpid")
	s1=$(rss_tree "$spid")
	kill "$ipid" 2>/dev/null
	wait "$ipid" 2>/dev/null
	set -- $line	# ready OPENED failed FAILED ...
	if [ "${2:-0}" -lt $((n * 9 / 10)) ]; then
		say "rep $rep idle $path: only ${2:-0} of $n channels opened"
		record rss_c "$path" "$rep" fail
		record rss_s "$path" "$rep" fail
		return
	fi
	n=$2
	record rss_c "$path" "$rep" "$(awk -v a="$c0" -v b="$c1" -v n="$n" 'BEGIN { printf "%.2f", (b - a) / n }')"
	record rss_s "$path" "$rep" "$(awk -v a="$s0" -v b="$s1" -v n="$n" 'BEGIN { printf "%.2f", (b - a) / n }')"
	say "rep $rep idle $path: $line; client side $c0 -> $c1 KiB, server side $s0 -> $s1 KiB"
	sleep 3		# closing 10,000 channels
}

# counters PID: "syscalls_read syscalls_write cpu_ticks ctx_switches" summed
# over a process tree, from /proc (no tracing, no slowdown).
counters() {
	local p r=0 w=0 t=0 c=0 a b x y
	for p in $(tree_pids "$1"); do
		read -r a b < <(awk '/^syscr/ {r=$2} /^syscw/ {w=$2} END {print r+0, w+0}' "/proc/$p/io" 2>/dev/null)
		read -r x y < <(awk '{print $14 + $15, 0}' "/proc/$p/stat" 2>/dev/null)
		r=$((r + ${a:-0})) w=$((w + ${b:-0})) t=$((t + ${x:-0}))
		c=$((c + $(cat /proc/"$p"/task/*/status 2>/dev/null | awk '/ctxt_switches/ {s += $2} END {print s + 0}')))
	done
	echo "$r $w $t $c"
}

# busy_ticks: CPU ticks of the whole machine spent not idle (/proc/stat).
busy_ticks() {
	awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat
}

# ---------------------------------------------------------------------------
# The table.

# median FIGURE PATH: median of the recorded values, "-" if none.
median() {
	awk -F'\t' -v f="$1" -v p="$2" '$1 == f && $2 == p && $4 != "fail" { print $4 }' "$DATA" |
		sort -g | awk '{ v[NR] = $1 } END {
			if (NR == 0) { print "-"; exit }
			if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# fmt VALUE DECIMALS
fmt() { case $1 in -|fail|n/a*) echo "$1" ;; *) printf "%.${2}f" "$1" ;; esac; }

# ratio A B: A/B, or "-".
ratio() {
	case "$1$2" in *-*|*fail*) echo "-"; return ;; esac
	awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "-"; else printf "%.2f", a / b }'
}

# meets RATIO OP LIMIT: yes/no.
meets() {
	[ "$1" = - ] && { echo "?"; return; }
	awk -v r="$1" -v op="$2" -v l="$3" 'BEGIN {
		ok = (op == "ge") ? (r >= l) : (r <= l); print ok ? "yes" : "no" }'
}
