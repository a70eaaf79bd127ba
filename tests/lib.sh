# Shared helpers for dynpass scenario tests. Source it first:
#   . "$(dirname "$0")/../lib.sh"
# Exit 0 = pass, 77 = skip, anything else = fail.

set -u
TOP=$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")/.." && pwd)
BIN=$TOP/build/bin
HOOKLIB=$TOP/build/lib/libsockhook.so
TESTS=$TOP/tests
T=$(mktemp -d /tmp/dynpass-test.XXXXXX)
_PIDS=""
_NETNS=""
# Under SANITIZE=address a small quarantine keeps RSS figures meaningful.
export ASAN_OPTIONS=${ASAN_OPTIONS:-quarantine_size_mb=4:malloc_context_size=10}

ok() { echo "ok: $*"; }
fail() { echo "FAIL: $*" >&2; _dump_logs; exit 1; }
skip() { echo "skip: $*"; exit 77; }
need_root() { [ "$(id -u)" = 0 ] || skip "needs root (network namespaces, nftables)"; }
need_cmd() { for c in "$@"; do command -v "$c" >/dev/null 2>&1 || skip "needs $c"; done; }

# Print the tail of every log in $T, to explain a failure.
_dump_logs() {
	for f in "$T"/*.log; do
		[ -f "$f" ] || continue
		echo "--- $f (last 25 lines)" >&2
		tail -n 25 "$f" >&2
	done
}

_cleanup() {
	local p
	for p in $_PIDS; do kill "$p" 2>/dev/null; done
	sleep 0.2
	for p in $_PIDS; do kill -9 "$p" 2>/dev/null; done
	for n in $_NETNS; do ip netns del "$n" 2>/dev/null; done
	if [ -n "${KEEP_T:-}" ]; then echo "kept $T" >&2; else rm -rf "$T"; fi
}
trap _cleanup EXIT

# bg_start LOG CMD...: start CMD in the background, logging to LOG; sets
# BG_PID. Called directly (not in $(...)), the test shell can wait for it.
bg_start() {
	local log=$1
	shift
	"$@" >"$log" 2>&1 &
	BG_PID=$!
	_PIDS="$_PIDS $BG_PID"
}

# bg_run LOG CMD...: like bg_start, but prints the pid.
bg_run() {
	bg_start "$@"
	echo "$BG_PID"
}

# Remember a namespace for deletion at exit.
netns_add() {
	ip netns del "$1" 2>/dev/null
	ip netns add "$1" || fail "cannot create network namespace $1"
	_NETNS="$_NETNS $1"
	ip -n "$1" link set lo up
}

# free_port: an unused TCP port, never one this test was given before. It
# comes from below the kernel's ephemeral range, so that no outgoing
# connection can take it before the daemon binds it, and it is free on
# every address (a bind to the wildcard, without SO_REUSEADDR, succeeds).
free_port() {
	python3 - "$T/.ports" <<'PY'
import random, socket, sys
path = sys.argv[1]
try:
    used = set(open(path).read().split())
except OSError:
    used = set()
try:
    low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
except (OSError, ValueError, IndexError):
    low = 32768
top = low - 1 if low > 12000 else 65535
base = 10000 if low > 12000 else 61000
for _ in range(1000):
    port = random.randint(base, top)
    if str(port) in used:
        continue
    taken = False
    for fam, addr in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
        try:
            s = socket.socket(fam)
        except OSError:
            continue  # no IPv6 here
        try:
            if fam == socket.AF_INET6:
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            s.bind((addr, port))
        except OSError:
            taken = True
        finally:
            s.close()
    if not taken:
        break
else:
    sys.exit("free_port: no free port")
with open(path, "a") as f:
    f.write("%d\n" % port)
print(port)
PY
}

# sha FILE: SHA-256 of a file.
sha() { sha256sum "$1" | cut -d' ' -f1; }

# wait_for_log FILE REGEX [SECONDS]
wait_for_log() {
	local f=$1 re=$2 secs=${3:-10} i=0
	while [ $i -lt $((secs * 10)) ]; do
		grep -Eq "$re" "$f" 2>/dev/null && return 0
		sleep 0.1
		i=$((i + 1))
	done
	fail "timed out after ${secs}s waiting for /$re/ in $(basename "$f")"
}

# count_log FILE REGEX: number of matching lines.
count_log() { grep -Ec "$2" "$1" 2>/dev/null || true; }

# wait_for_count FILE REGEX N [SECS]: until N lines match.
wait_for_count() {
	local f=$1 re=$2 n=$3 secs=${4:-10} i=0
	while [ $i -lt $((secs * 10)) ]; do
		[ "$(count_log "$f" "$re")" -ge "$n" ] && return 0
		sleep 0.1
		i=$((i + 1))
	done
	fail "timed out after ${secs}s waiting for $n lines /$re/ in $(basename "$f")"
}

# In a namespace or not. bg_run runs this in a subshell: exec keeps the
# recorded pid that of the daemon itself.
_in_ns() {
	local ns=$1
	shift
	if [ -n "$ns" ]; then exec ip netns exec "$ns" "$@"; else exec "$@"; fi
}

# write_psk FILE: a fresh 256-bit key, mode 600.
write_psk() {
	(umask 077; openssl rand -hex 32 >"$1")
}

# esp_tls: the esp's keys. ESP_ISPS="ID:KEYFILE ..." gives each isp its own
# [isp ID] section; by default one key, [tls] psk_file, for isp "test-isp".
esp_tls() {
	local e
	if [ -n "${ESP_TLS_TEXT:-}" ]; then
		printf '%s\n' "$ESP_TLS_TEXT"
		return
	fi
	if [ -n "${ESP_ISPS:-}" ]; then
		for e in $ESP_ISPS; do
			printf '[isp %s]\npsk_file = %s\n' "${e%%:*}" "${e#*:}"
		done
		return
	fi
	printf '[tls]\npsk_file = %s\npsk_identity = %s\n' \
		"${PSK:-$T/pair.psk}" "${ESP_PSK_IDENTITY:-test-isp}"
}

# daemon_text: the [daemon] section; tests run the daemons as root, which
# they refuse unless allowed. DAEMON_TEXT replaces it.
daemon_text() { printf '%s\n' "${DAEMON_TEXT:-[daemon]
allow_root = yes}"; }

# esp_conf FILE: an esp.conf in $T using ESP_ADDR/SOCKS_ADDR and ports;
# NO_SOCKS=1 leaves the SOCKS door out (an esp for agents only).
esp_conf() {
	cat >"$1" <<CONF
[esp]
session_listen = ${ESP_ADDR}:${SESSION_PORT}
$([ -n "${NO_SOCKS:-}" ] || echo "socks_listen   = ${SOCKS_ADDR}:${SOCKS_PORT}")
${ESP_EXTRA:-}
[session]
keepalive  = ${KEEPALIVE:-2s}
dead_after = ${DEAD_AFTER:-6s}
${SESSION_EXTRA:-}
$(esp_tls)
$(daemon_text)
CONF
}

# isp_conf FILE
isp_conf() {
	local espaddr=$ESP_ADDR
	case $espaddr in *:*) espaddr="[$espaddr]" ;; esac
	cat >"$1" <<CONF
[isp]
esp   = ${ISP_ESP:-${espaddr}:${SESSION_PORT}}
allow = ${ALLOW:-none}
id    = ${ISP_ID:-test-isp}
reconnect_max = ${RECONNECT_MAX:-2s}
${ISP_EXTRA:-}
[session]
keepalive  = ${KEEPALIVE:-2s}
dead_after = ${DEAD_AFTER:-6s}
${SESSION_EXTRA:-}
${ISP_TLS_TEXT:-[tls]
psk_file = ${ISP_PSK:-${PSK:-$T/pair.psk}}}
${ISP_SECTIONS:-}
$(daemon_text)
CONF
}

# pwhash PASSWORD: the [user] password line's value, from isp -P.
pwhash() { echo "$1" | "$BIN/isp" -P | sed 's/^password = //'; }

# esp_start / isp_start: start one daemon; sets ESP_PID / ISP_PID.
# ESP_WRAP / ISP_WRAP: words to run it under (setpriv ..., a sandbox).
esp_start() {
	ESP_LOG=${ESP_LOG:-$T/esp.log}
	# shellcheck disable=SC2086
	bg_start "$ESP_LOG" _in_ns "${NETNS_ESP:-}" ${ESP_WRAP:-} "$BIN/esp" -v -c "$T/esp.conf"
	ESP_PID=$BG_PID
}
isp_start() {
	ISP_LOG=${ISP_LOG:-$T/isp.log}
	# shellcheck disable=SC2086
	bg_start "$ISP_LOG" _in_ns "${NETNS_ISP:-}" ${ISP_WRAP:-} "$BIN/isp" -v -c "$T/isp.conf"
	ISP_PID=$BG_PID
}

# pair_start: configs, key, both daemons; waits until the session is up.
pair_start() {
	ESP_ADDR=${ESP_ADDR:-127.0.0.1}
	SOCKS_ADDR=${SOCKS_ADDR:-127.0.0.1}
	SESSION_PORT=${SESSION_PORT:-$(free_port)}
	SOCKS_PORT=${SOCKS_PORT:-$(free_port)}
	[ -f "$T/pair.psk" ] || write_psk "$T/pair.psk"
	esp_conf "$T/esp.conf"
	isp_conf "$T/isp.conf"
	esp_start
	wait_for_log "$ESP_LOG" "listening for (SOCKS5|client agents)" 10
	isp_start
	wait_for_log "$ISP_LOG" "session with .* up" 15
	wait_for_log "$ESP_LOG" "isp \".*\" serves" 10
}

# http_start DIR [ADDR]: serve DIR; sets HTTP_PORT and HTTP_PID.
# A port free on 127.0.0.1 may be taken on another address: then it tries
# another port, up to 5 times.
http_start() {
	local dir=$1 addr=${2:-127.0.0.1} i tries=0
	local host=$addr
	case $host in *:*) host="[$host]" ;; esac
	while [ $tries -lt 5 ]; do
		tries=$((tries + 1))
		HTTP_PORT=$(free_port)
		: >"$T/http.log"
		bg_start "$T/http.log" _in_ns "${NETNS:-}" python3 "$TESTS/tools/httpd.py" \
			"$addr" "$HTTP_PORT" "$dir"
		HTTP_PID=$BG_PID
		i=0
		while [ $i -lt 100 ]; do
			(_in_ns "${NETNS:-}" curl -s -o /dev/null "http://$host:$HTTP_PORT/") && return 0
			grep -q "Address already in use" "$T/http.log" && break
			sleep 0.1
			i=$((i + 1))
		done
		grep -q "Address already in use" "$T/http.log" || break
		echo "http server: $addr:$HTTP_PORT is taken; another port"
	done
	fail "http server on $addr:$HTTP_PORT did not start"
}

# fetch_many N SECS: N curl downloads at once through the SOCKS door, of
# $T/www/f0..f3 in turn (from http_start) into $T/out/1..N; fails unless
# every one succeeds within SECS and matches its source by SHA-256.
fetch_many() {
	local n=$1 secs=$2 i p pids="" bad=0
	mkdir -p "$T/out"
	for i in $(seq 1 "$n"); do
		curl -sS --fail --max-time "$secs" --socks5-hostname "127.0.0.1:$SOCKS_PORT" \
			-o "$T/out/$i" "http://127.0.0.1:$HTTP_PORT/f$((i % 4))" 2>"$T/out/$i.err" &
		pids="$pids $!"
	done
	for p in $pids; do wait "$p" || bad=$((bad + 1)); done
	[ $bad = 0 ] || fail "$bad of $n transfers failed: $(cat "$T"/out/*.err | sort | uniq -c | head -3)"
	for i in $(seq 1 "$n"); do
		[ "$(sha "$T/out/$i")" = "$(sha "$T/www/f$((i % 4))")" ] || fail "transfer $i: SHA-256 differs"
	done
}

# ftp_modes N: N active and N passive downloads of $T/ftp/pub/f (from
# ftp_start) through the SOCKS door with curl, each checked by SHA-256.
ftp_modes() {
	local want i mode arg
	want=$(sha "$T/ftp/pub/f")
	for i in $(seq 1 "$1"); do
		for mode in active passive; do
			arg=""
			[ $mode = active ] && arg="-P -"
			# shellcheck disable=SC2086
			curl -sS --fail --max-time 30 --socks5-hostname "127.0.0.1:$SOCKS_PORT" $arg \
				-o "$T/ftp.$mode.$i" "ftp://127.0.0.1:$FTP/pub/f" 2>"$T/ftp.err" ||
				fail "FTP $mode $i: $(cat "$T/ftp.err")"
			[ "$(sha "$T/ftp.$mode.$i")" = "$want" ] || fail "FTP $mode $i: SHA-256 differs"
		done
	done
}

# ftp_start: vsftpd on 127.0.0.1, anonymous, serving $T/ftp (with
# $T/ftp/pub/f, 1 MiB); sets FTP (its port); $T/rules/ftp.ini is the FTP
# rule file for that port. Skips without vsftpd and its ftp user.
ftp_start() {
	need_cmd vsftpd
	id ftp >/dev/null 2>&1 || skip "needs the ftp user (from the vsftpd package)"
	chmod 755 "$T"
	FTP=$(free_port)
	mkdir -p "$T/ftp/pub" "$T/empty" "$T/rules"
	head -c 1048576 /dev/urandom >"$T/ftp/pub/f"
	cat >"$T/vsftpd.conf" <<CONF
listen=YES
listen_address=127.0.0.1
listen_port=$FTP
background=NO
anonymous_enable=YES
no_anon_password=YES
anon_root=$T/ftp
local_enable=NO
connect_from_port_20=NO
seccomp_sandbox=NO
secure_chroot_dir=$T/empty
CONF
	bg_start "$T/vsftpd.log" vsftpd "$T/vsftpd.conf"
	sed "s/^ports *=.*/ports = $FTP/" "$TOP/rules/ftp.ini" >"$T/rules/ftp.ini"
}

# rss_kb PID: resident set size in KiB; peak_kb PID: the high-water mark.
# metric PORT SERIES: a series' value from the metrics endpoint on
# 127.0.0.1:PORT (0 when it has none yet), e.g.
# metric 9100 'dynpass_password_hashes_total{result="ok"}'.
metric() {
	curl -sS --fail --max-time 10 "http://127.0.0.1:$1/metrics" |
		awk -v s="$2" '$1 == s { n = $2 } END { print n + 0 }'
}
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
peak_kb() { awk '/^VmHWM/ {print $2}' "/proc/$1/status"; }
