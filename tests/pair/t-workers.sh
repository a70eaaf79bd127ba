#!/bin/bash
# [isp] workers = 2 with sessions = 3: the isp runs its sessions on two
# worker threads (lanes 0 and 2 on worker 0, lane 1 on worker 1), each
# with its own event base. While 60 transfers, logins and active and
# passive FTP run on both threads at once, the main thread reloads the
# isp and scrapes its metrics (both stop the workers between callbacks):
# everything stays intact by SHA-256. A SIGTERM in the middle of
# transfers drains them intact and the isp exits 0. -t refuses
# out-of-range counts, word for word, and a reload that changes the count
# says it waits for a restart.
. "$(dirname "$0")/../lib.sh"
need_root # vsftpd runs as root and drops to the ftp user
need_cmd curl
ftp_start
mkdir -p "$T/www" "$T/out"
for i in 0 1 2 3; do head -c $((1024 * 1024 + i)) /dev/urandom >"$T/www/f$i"; done
head -c $((40 * 1024 * 1024)) /dev/urandom >"$T/www/big"
http_start "$T/www"
IM=$(free_port)
ALLOW="127.0.0.1/32:$HTTP_PORT 127.0.0.1/32:$FTP"
ESP_EXTRA="outside_own_addresses = yes
login_inflight_per_source = 16"
ISP_EXTRA="sessions = 3
workers = 2
rules = $T/rules
[metrics]
listen = 127.0.0.1:$IM
[isp]"
ISP_SECTIONS="
[policy]
anonymous = yes
[user alice]
password = $(pwhash alice-secret)
allow = 127.0.0.1/32:$HTTP_PORT"
pair_start
wait_for_count "$ISP_LOG" "session with 127\.0\.0\.1:$SESSION_PORT(#1|#2)? up" 3 15
grep -q "started: .*, 2 workers$" "$ISP_LOG" || fail "the isp did not say it runs 2 workers"
for lane in "" "#1" "#2"; do
	want=0
	[ "$lane" = "#1" ] && want=1
	# Logged just after the lane's "up" line: wait for it.
	wait_for_log "$ISP_LOG" "esp 127\.0\.0\.1:$SESSION_PORT$lane: session on worker $want\$" 10
done
names=$(cat /proc/"$ISP_PID"/task/*/comm | sort | tr '\n' ' ')
case "$names" in *isp-w0*isp-w1*) ;; *) fail "no two worker threads in the isp: $names" ;; esac
ok "two worker threads ($names); lanes 0 and 2 on worker 0, lane 1 on worker 1"

# The main thread parks the workers, again and again, under load.
scrape() { curl -sS --fail --max-time 10 "http://127.0.0.1:$IM/metrics"; }
poke() { # reloads and scrapes until $T/stop exists
	local n=0
	while [ ! -e "$T/stop" ] && [ $n -lt 200 ]; do
		kill -HUP "$ISP_PID"
		scrape >"$T/scrape" || echo "scrape failed" >>"$T/poke.err"
		n=$((n + 1))
		sleep 0.05
	done
	echo $n >"$T/pokes"
}
rm -f "$T/stop"
poke &
POKE=$!
fetch_many 60 60
fetch_alice() { # OUT
	curl -sS --fail --max-time 30 --proxy "socks5h://alice:alice-secret@127.0.0.1:$SOCKS_PORT" \
		-o "$1" "http://127.0.0.1:$HTTP_PORT/f1" 2>>"$T/alice.err"
}
# Each reload starts the password cache afresh, so these logins are
# checked (scrypt) on the workers' pools while reloads go on.
fetch_alice "$T/out/a0" || fail "alice: $(cat "$T/alice.err")"
pids=""
for i in 1 2 3 4 5 6; do
	fetch_alice "$T/out/a$i" &
	pids="$pids $!"
done
for p in $pids; do wait "$p" || fail "alice: $(cat "$T/alice.err")"; done
for i in 0 1 2 3 4 5 6; do
	[ "$(sha "$T/out/a$i")" = "$(sha "$T/www/f1")" ] || fail "alice $i: SHA-256 differs"
done
ftp_modes 3
touch "$T/stop"
wait "$POKE"
[ ! -s "$T/poke.err" ] || fail "metrics while parking: $(sort "$T/poke.err" | uniq -c)"
pokes=$(cat "$T/pokes")
[ "$pokes" -ge 5 ] || fail "only $pokes reloads and scrapes ran during the transfers"
wait_for_count "$ISP_LOG" "reloaded $T/isp.conf" "$pokes" 10
grep -q '^dynpass_sessions{peer="esp"} 3$' "$T/scrape" ||
	fail "the last scrape does not count 3 sessions: $(grep dynpass_sessions "$T/scrape")"
kill -0 "$ISP_PID" || fail "the isp died"
ok "60 transfers, 7 logins as alice, 3 active and 3 passive FTP on both workers intact, across $pokes reloads and scrapes"

# A change of the worker count waits for a restart.
sed -i "s/^workers = 2/workers = 3/" "$T/isp.conf"
kill -HUP "$ISP_PID"
wait_for_log "$ISP_LOG" "reload: not applied until a restart: \[isp\] workers" 10
sed -i "s/^workers = 3/workers = 2/" "$T/isp.conf"
ok "a reload with another worker count: not applied until a restart"

# SIGTERM while big transfers run on both workers: they finish intact.
pids=""
for i in 1 2 3 4; do
	curl -sS --fail --max-time 60 --limit-rate 8M --socks5-hostname "127.0.0.1:$SOCKS_PORT" \
		-o "$T/out/big$i" "http://127.0.0.1:$HTTP_PORT/big" 2>"$T/out/big$i.err" &
	pids="$pids $!"
done
sleep 1
kill -TERM "$ISP_PID"
wait_for_log "$ISP_LOG" "signal 15: draining" 10
for p in $pids; do wait "$p" || fail "a transfer across the drain failed: $(cat "$T"/out/big*.err)"; done
for i in 1 2 3 4; do
	[ "$(sha "$T/out/big$i")" = "$(sha "$T/www/big")" ] || fail "big $i: SHA-256 differs"
done
n=0
while kill -0 "$ISP_PID" 2>/dev/null && [ $n -lt 150 ]; do sleep 0.1; n=$((n + 1)); done
kill -0 "$ISP_PID" 2>/dev/null && fail "the isp did not exit after draining"
rc=0
wait "$ISP_PID" || rc=$?
[ "$rc" = 0 ] || fail "the isp exited $rc after draining"
grep -q "isp stopped" "$ISP_LOG" || fail "no 'isp stopped' line"
ok "SIGTERM during four 40 MB transfers on both workers: all intact, the isp exits 0"

# -t: out-of-range counts, word for word.
for bad in 0 65; do
	sed "s/^workers = .*/workers = $bad/" "$T/isp.conf" >"$T/bad.conf"
	out=$("$BIN/isp" -t -c "$T/bad.conf" 2>&1) && fail "isp -t accepted workers = $bad"
	[ "$out" = "isp: $T/bad.conf: [isp] workers: $bad is out of range (1 to 64)" ] ||
		fail "workers = $bad: $out"
done
ok "-t refuses workers = 0 and 65, word for word"
