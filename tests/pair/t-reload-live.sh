#!/bin/bash
# SIGHUP on the isp applies what can change live, and names what cannot.
#  1. esp = A  ->  esp = A B, a new [session] keepalive, a new
#     login_threads: B is dialled, A's session is left alone, and the
#     log says login_threads waits for a restart.
#  2. esp = A B  ->  esp = B C with a new key and id: A gets GOAWAY and
#     its download under way completes intact before its session goes;
#     C's new handshake uses the new key (C knows only that one), while
#     B's open session keeps the old one; A's door then has no isp.
#  3. A broken file: refused with its error; the running pair goes on.
. "$(dirname "$0")/../lib.sh"
need_cmd curl
mkdir "$T/www"
head -c $((24 * 1024 * 1024)) /dev/urandom >"$T/www/big"
echo small >"$T/www/f"
http_start "$T/www"
write_psk "$T/k1"
write_psk "$T/k2"
ALLOW="127.0.0.1/32:$HTTP_PORT"
ESP_ADDR=127.0.0.1 SOCKS_ADDR=127.0.0.1

# esp NAME ISPS: an esp with its own ports, config and log.
esp() {
	local n=$1
	SESSION_PORT=$(free_port) SOCKS_PORT=$(free_port)
	eval "SP_$n=$SESSION_PORT SX_$n=$SOCKS_PORT"
	ESP_ISPS=$2 esp_conf "$T/esp-$n.conf"
	bg_start "$T/esp-$n.log" "$BIN/esp" -v -c "$T/esp-$n.conf"
	wait_for_log "$T/esp-$n.log" "listening for SOCKS5" 10
}
esp A "test-isp:$T/k1 new-isp:$T/k2"
esp B "test-isp:$T/k1 new-isp:$T/k2"
esp C "new-isp:$T/k2"

# isp.conf for an esp list, a key and an id.
isp_for() { # ESPS KEY ID [EXTRA]
	ISP_ESP=$1 ISP_PSK=$2 ISP_ID=$3 ISP_EXTRA=${4:-} isp_conf "$T/isp.conf"
}
isp_for "127.0.0.1:$SP_A" "$T/k1" test-isp "login_threads = 2"
ISP_LOG=$T/isp.log
bg_start "$ISP_LOG" "$BIN/isp" -v -c "$T/isp.conf"
ISP_PID=$BG_PID
wait_for_log "$T/esp-A.log" 'isp "test-isp" serves' 10

fetch() { # ESP FILE OUT [CURLARGS]
	local sx
	eval "sx=\$SX_$1"
	curl -sS --fail --max-time 60 --socks5 "127.0.0.1:$sx" "${@:4}" \
		-o "$3" "http://127.0.0.1:$HTTP_PORT/$2"
}
fetch A big "$T/dl" --limit-rate 6M 2>"$T/dl.err" &
DL=$!
sleep 1

# 1. Add B; new session settings; login_threads needs a restart.
isp_for "127.0.0.1:$SP_A 127.0.0.1:$SP_B" "$T/k1" test-isp "login_threads = 3"
sed -i 's/^keepalive  = .*/keepalive  = 3s/' "$T/isp.conf"
kill -HUP "$ISP_PID"
wait_for_log "$ISP_LOG" "reload: esp 127.0.0.1:$SP_B added: dialling" 5
wait_for_log "$ISP_LOG" "reloaded $T/isp.conf: 0 users, anonymous allowed, 0 rule files; TLS credentials and \[session\] settings for new sessions" 5
wait_for_log "$ISP_LOG" "reload: not applied until a restart: \[isp\] login_threads$" 5
wait_for_log "$T/esp-B.log" 'isp "test-isp" serves' 10
[ "$(count_log "$ISP_LOG" "session with 127.0.0.1:$SP_A up")" = 1 ] ||
	fail "A's session was redone by the reload"
kill -0 "$DL" 2>/dev/null || fail "the download through A ended early: $(cat "$T/dl.err")"
ok "reload 1: B dialled, A untouched, login_threads named for a restart"

# 2. A out, C in, with a new key and id.
isp_for "127.0.0.1:$SP_B 127.0.0.1:$SP_C" "$T/k2" new-isp
kill -HUP "$ISP_PID"
wait_for_log "$ISP_LOG" "reload: esp 127.0.0.1:$SP_A removed: draining its session" 5
wait_for_log "$ISP_LOG" "reload: esp 127.0.0.1:$SP_C added: dialling" 5
wait_for_log "$T/esp-C.log" "up \(dynpass/[^,]*, protocol [0-9]+, identity new-isp\)" 10
ok "C's handshake used the new key and id: $(grep -m1 -o 'identity new-isp' "$T/esp-C.log")"
wait_for_log "$T/esp-A.log" "peer says goodbye" 5
kill -0 "$DL" 2>/dev/null || fail "A's download did not outlive the GOAWAY: $(cat "$T/dl.err")"
wait "$DL" || fail "the download through A failed: $(cat "$T/dl.err")"
[ "$(sha "$T/dl")" = "$(sha "$T/www/big")" ] || fail "A's download: SHA-256 differs"
ok "A's 24 MiB download under way completed intact after the GOAWAY"
wait_for_log "$ISP_LOG" "esp 127.0.0.1:$SP_A: session gone; no longer dialled" 10
[ "$(count_log "$ISP_LOG" "session with 127.0.0.1:$SP_B up")" = 1 ] ||
	fail "B's session was redone by the reload"
fetch B f "$T/b.out" || fail "fetch through B after the reload"
fetch C f "$T/c.out" || fail "fetch through C after the reload"
[ "$(cat "$T/b.out" "$T/c.out")" = "small
small" ] || fail "fetches through B and C: wrong content"
fetch A f "$T/a.out" 2>"$T/a.err" && fail "A's door still reaches the isp"
wait_for_log "$T/esp-A.log" "no session to an isp" 5
sleep 2
[ "$(count_log "$ISP_LOG" "dialling esp 127.0.0.1:$SP_A")" = 1 ] ||
	fail "the isp dials A again after removing it"
ok "reload 2: A drained and dropped, B kept its session, C added"

# 3. A broken file: named, refused, nothing changes.
sed -i 's/^keepalive  = .*/keepalive  = soon/' "$T/isp.conf"
kill -HUP "$ISP_PID"
wait_for_log "$ISP_LOG" "reload failed: $T/isp.conf: \[session\] keepalive: \"soon\" is not a duration \(e.g. 10s, 500ms, 2m\); keeping the running configuration" 5
fetch C f "$T/c2.out" || fail "fetch through C after a failed reload"
[ "$(count_log "$ISP_LOG" "session with .* up")" = 3 ] || fail "sessions were redone"
ok "reload 3: a broken file is refused with its error; the pair goes on"
