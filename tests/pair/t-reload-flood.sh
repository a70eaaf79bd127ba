#!/bin/bash
# 400 reloads of the isp, each with a new TLS context: the replaced ones
# go once no session uses them, so the isp's memory stays flat (RSS within
# 512 KiB after a warm-up), its descriptors do not grow, the session is
# never redone, and a transfer afterwards is intact (SHA-256).
. "$(dirname "$0")/../lib.sh"
need_cmd curl
# Under SANITIZE=address: no quarantine here. ASan's quarantine hands the
# chunks one thread frees to another thread's allocator cache, so with
# the isp's worker thread RSS creeps up over hundreds of reloads (2 MiB
# over 400, none without the quarantine, none in the plain build); the
# figure this test bounds is the isp's own memory.
export ASAN_OPTIONS=quarantine_size_mb=0:thread_local_quarantine_size_kb=0:malloc_context_size=10
mkdir -p "$T/www"
head -c 1000000 /dev/urandom >"$T/www/f"
http_start "$T/www"
ALLOW="127.0.0.1/32:$HTTP_PORT"
pair_start

reloads=0
reload() { # N: N more reloads, one at a time
	local k=0 i
	while [ $k -lt "$1" ]; do
		reloads=$((reloads + 1))
		kill -HUP "$ISP_PID"
		i=0
		while [ "$(count_log "$ISP_LOG" "^.*reloaded $T/isp.conf")" -lt $reloads ]; do
			sleep 0.01
			i=$((i + 1))
			[ $i -lt 1000 ] || fail "reload $reloads did not finish in 10 s"
		done
		k=$((k + 1))
	done
}
fds() { find "/proc/$ISP_PID/fd" -mindepth 1 | wc -l; }

reload 50
rss0=$(rss_kb "$ISP_PID")
fd0=$(fds)
reload 400
rss1=$(rss_kb "$ISP_PID")
fd1=$(fds)
echo "isp RSS after 50 reloads: $rss0 KiB; after 450: $rss1 KiB; descriptors $fd0 -> $fd1"
[ $((rss1 - rss0)) -le 512 ] || fail "isp RSS grew by $((rss1 - rss0)) KiB over 400 reloads"
[ "$fd1" -le "$fd0" ] || fail "isp descriptors grew from $fd0 to $fd1 over 400 reloads"
[ "$(count_log "$ISP_LOG" "session with .* up")" = 1 ] || fail "a reload redid the session"
curl -sS --fail --max-time 30 --socks5-hostname "127.0.0.1:$SOCKS_PORT" \
	-o "$T/out" "http://127.0.0.1:$HTTP_PORT/f" || fail "transfer after the reloads"
[ "$(sha "$T/out")" = "$(sha "$T/www/f")" ] || fail "after the reloads: SHA-256 differs"
ok "400 reloads: RSS $rss0 -> $rss1 KiB, descriptors $fd0 -> $fd1, one session, transfer intact"
