#!/bin/bash
# [isp] sessions = 3: three sessions to one esp, with channels spread over
# them. Concurrent transfers, a login and active and passive FTP (whose
# openings stay with the session that announced them) all work and are
# checked by SHA-256; each session's TCP connection carries part of the
# bytes. [esp] max_sessions_per_isp refuses a session over the limit, an
# impostor's sessions at a taken id are still refused, a reload changes
# the count live, and -t refuses out-of-range counts, word for word.
. "$(dirname "$0")/../lib.sh"
need_root # vsftpd runs as root and drops to the ftp user
need_cmd curl ss
ftp_start
mkdir -p "$T/www" "$T/out"
for i in 0 1 2 3; do head -c $((1024 * 1024 + i)) /dev/urandom >"$T/www/f$i"; done
http_start "$T/www"
ALLOW="127.0.0.1/32:$HTTP_PORT 127.0.0.1/32:$FTP"
ESP_EXTRA="outside_own_addresses = yes"
ISP_EXTRA="sessions = 3
rules = $T/rules"
ISP_SECTIONS="
[policy]
anonymous = yes
[user alice]
password = $(pwhash alice-secret)
allow = 127.0.0.1/32:$HTTP_PORT"
pair_start
wait_for_count "$ISP_LOG" "session with 127\.0\.0\.1:$SESSION_PORT(#1|#2)? up" 3 15
wait_for_count "$ESP_LOG" "isp \"test-isp\" serves" 3 10
grep -q "session with 127.0.0.1:$SESSION_PORT#2 up" "$ISP_LOG" || fail "no third session in the isp's log"
grep -Eq "session with 127\.0\.0\.1:[0-9]+ up \(.*identity test-isp, lane 2\)" "$ESP_LOG" ||
	fail "the esp did not log lane 2"
ok "three sessions to one esp, lanes 0, 1 and 2"

# 60 transfers at once: intact, and spread over the three sessions.
fetch_many 60 60
# What each session's TCP connection received at the esp, from the kernel.
ss -tinH state established "( sport = :$SESSION_PORT )" >"$T/ss.txt"
grep -o "bytes_received:[0-9]*" "$T/ss.txt" | cut -d: -f2 >"$T/rx.txt"
[ "$(wc -l <"$T/rx.txt")" = 3 ] || fail "want 3 session connections at the esp: $(cat "$T/ss.txt")"
while read -r n; do
	[ "$n" -ge $((4 * 1024 * 1024)) ] || fail "a session carried only $n bytes of 60 MiB: $(tr '\n' ' ' <"$T/rx.txt")"
done <"$T/rx.txt"
ok "60 concurrent transfers intact; each session carried at least 4 MiB of them ($(tr '\n' ' ' <"$T/rx.txt"))"

# A login is checked by one session of the isp, then stays with it.
fetch_alice() { # OUT
	curl -sS --fail --max-time 30 --proxy "socks5h://alice:alice-secret@127.0.0.1:$SOCKS_PORT" \
		-o "$1" "http://127.0.0.1:$HTTP_PORT/f1" 2>>"$T/alice.err"
}
fetch_alice "$T/out/a0" || fail "alice: $(cat "$T/alice.err")"
pids=""
for i in 1 2 3 4 5 6 7 8; do
	fetch_alice "$T/out/a$i" &
	pids="$pids $!"
done
for p in $pids; do wait "$p" || fail "alice, concurrent: $(cat "$T/alice.err")"; done
for i in 0 1 2 3 4 5 6 7 8; do
	[ "$(sha "$T/out/a$i")" = "$(sha "$T/www/f1")" ] || fail "alice $i: SHA-256 differs"
done
n=$(count_log "$ISP_LOG" 'login for user "alice"')
[ "$n" = 1 ] || fail "the isp checked alice's password $n times, want once"
ok "nine logins as alice, checked once by one session, all intact"

# Active and passive FTP: each opening goes through the session that saw it.
ftp_modes 6
ok "6 active and 6 passive FTP downloads through three sessions, intact"

# An impostor with this id (the same key) and three sessions: each lane
# is taken by a live session, so all three are refused.
sed "s/^reconnect_max .*/reconnect_max = 60s/" "$T/isp.conf" >"$T/isp2.conf"
bg_start "$T/isp2.log" "$BIN/isp" -v -c "$T/isp2.conf"
ISP2=$BG_PID
wait_for_count "$ESP_LOG" 'isp "test-isp" already has a live session .*; refusing this one' 3 15
kill "$ISP2"
curl -sS --fail --max-time 30 --socks5-hostname "127.0.0.1:$SOCKS_PORT" \
	-o "$T/out/after" "http://127.0.0.1:$HTTP_PORT/f2" || fail "transfer after the impostor"
[ "$(sha "$T/out/after")" = "$(sha "$T/www/f2")" ] || fail "after the impostor: SHA-256 differs"
ok "a second isp at the same id gets none of the three lanes"

# Reload: 3 -> 2 drains the third; 2 -> 4 adds two.
sed -i "s/^sessions = 3/sessions = 2/" "$T/isp.conf"
kill -HUP "$ISP_PID"
wait_for_log "$ISP_LOG" "reload: esp 127.0.0.1:$SESSION_PORT#2 removed: draining its session" 10
wait_for_log "$ISP_LOG" "esp 127.0.0.1:$SESSION_PORT#2: session gone; no longer dialled" 10
n2=$(count_log "$ISP_LOG" "session with 127\.0\.0\.1:$SESSION_PORT#2 up")
sed -i "s/^sessions = 2/sessions = 4/" "$T/isp.conf"
kill -HUP "$ISP_PID"
wait_for_log "$ISP_LOG" "reload: esp 127.0.0.1:$SESSION_PORT#3 added: dialling" 10
wait_for_count "$ISP_LOG" "session with 127\.0\.0\.1:$SESSION_PORT#3 up" 1 10
# Lane 2 is dialled anew too: wait for it before counting connections.
wait_for_count "$ISP_LOG" "session with 127\.0\.0\.1:$SESSION_PORT#2 up" $((n2 + 1)) 10
# The esp takes 4 per isp by default: lanes 0 to 3 are all in use.
[ "$(ss -tnH state established "( sport = :$SESSION_PORT )" | wc -l)" = 4 ] ||
	fail "want 4 session connections after the reload"
ok "reload: 3 -> 2 drains the third session, 2 -> 4 dials two more"
kill "$ISP_PID"
wait "$ISP_PID" 2>/dev/null || true

# [esp] max_sessions_per_isp = 2: the third session is refused, and the
# isp waits before trying that one again; the other two serve.
kill "$ESP_PID"
wait "$ESP_PID" 2>/dev/null || true
ESP_EXTRA="outside_own_addresses = yes
max_sessions_per_isp = 2"
ESP_LOG=$T/esp2.log ISP_LOG=$T/isp3.log
sed -i "s/^sessions = 4/sessions = 3/" "$T/isp.conf"
esp_conf "$T/esp.conf"
esp_start
wait_for_log "$ESP_LOG" "listening for SOCKS5" 10
isp_start
wait_for_log "$ESP_LOG" 'isp "test-isp" opened session 3; this esp takes 2 per isp \(\[esp\] max_sessions_per_isp\)' 15
wait_for_count "$ESP_LOG" "isp \"test-isp\" serves" 2 10
# GOAWAY 6 (refused), with the esp's reason, as the isp heard it.
wait_for_log "$ISP_LOG" 'peer says goodbye: refused: isp "test-isp" opened session 3; this esp takes 2 per isp' 10
curl -sS --fail --max-time 30 --socks5-hostname "127.0.0.1:$SOCKS_PORT" \
	-o "$T/out/two" "http://127.0.0.1:$HTTP_PORT/f3" || fail "transfer with two sessions"
[ "$(sha "$T/out/two")" = "$(sha "$T/www/f3")" ] || fail "two sessions: SHA-256 differs"
ok "max_sessions_per_isp = 2: the third session refused, word for word; two serve"

# -t: out-of-range counts, word for word.
for bad in 0 17; do
	sed "s/^sessions = .*/sessions = $bad/" "$T/isp.conf" >"$T/bad.conf"
	out=$("$BIN/isp" -t -c "$T/bad.conf" 2>&1) && fail "isp -t accepted sessions = $bad"
	[ "$out" = "isp: $T/bad.conf: [isp] sessions: $bad is out of range (1 to 16)" ] ||
		fail "sessions = $bad: $out"
done
printf '[esp]\nsession_listen = 127.0.0.1:1\nsocks_listen = 127.0.0.1:2\nmax_sessions_per_isp = 17\n[tls]\npsk_file = %s\n' \
	"$T/pair.psk" >"$T/bad-esp.conf"
out=$("$BIN/esp" -t -c "$T/bad-esp.conf" 2>&1) && fail "esp -t accepted max_sessions_per_isp = 17"
[ "$out" = "esp: $T/bad-esp.conf: [esp] max_sessions_per_isp: 17 is out of range (1 to 16)" ] ||
	fail "max_sessions_per_isp = 17: $out"
ok "-t refuses sessions = 0 and 17, and max_sessions_per_isp = 17"
