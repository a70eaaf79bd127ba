#!/bin/bash
# Clients that stop reading cannot hold up a whole session. With a 4 MiB
# session window, 12 clients that read nothing of 8 MiB streams hold all
# of the session's credit toward the esp:
#  - with [session] stall_timeout = off, another client's download waits
#    (curl times out): the test can fail;
#  - with stall_timeout = 2s, the esp resets the stalled channels (a log
#    line and an audit line each), the download completes intact, and
#    every stalled client either gets its whole stream intact or an error,
#    never a short stream that looks complete;
#  - a stalled client alone (the session not short of credit) is left
#    alone, and later reads its stream intact.
. "$(dirname "$0")/../lib.sh"
need_cmd curl
PEER="python3 $TESTS/tools/peer.py"
STREAM=$((8 * 1024 * 1024))

mkdir -p "$T/www"
head -c $((10 * 1024 * 1024)) /dev/urandom >"$T/www/f"
http_start "$T/www"
SPORT=$(free_port)
bg_start "$T/stream.log" $PEER stream-server "$SPORT" "$STREAM" 100
wait_for_log "$T/stream.log" listening 10
ALLOW="127.0.0.1/32:$HTTP_PORT,$SPORT"

# stalled N GOFILE OUT: N clients read nothing until GOFILE exists, then
# read to the end; OUT gets one line each: "intact", "short N" or the error.
cat >"$T/stalled.py" <<'PY'
import hashlib, os, socket, sys, threading, time
sys.path.insert(0, os.environ["TESTS"] + "/tools")
from peer import pattern, socks_connect
socks, port, n, size, go, out = (int(sys.argv[1]), int(sys.argv[2]),
    int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6])
conns = []
for _ in range(n):
    s, code = socks_connect(socks, "127.0.0.1", port)
    if code != 0:
        raise SystemExit("socks reply %d" % code)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    conns.append(s)
print("stalled", flush=True)
while not os.path.exists(go):
    time.sleep(0.1)
want = hashlib.sha256(pattern(size, 4)).hexdigest()
res = [None] * n


def drain(i, s):  # all at once: one by one, the others would hold it up
    s.settimeout(60)
    h, total = hashlib.sha256(), 0
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            h.update(b)
            total += len(b)
        ok = total == size and h.hexdigest() == want
        res[i] = "intact" if ok else "short %d" % total
    except OSError as e:
        res[i] = "error %s" % e.__class__.__name__


ts = [threading.Thread(target=drain, args=(i, s)) for i, s in enumerate(conns)]
for t in ts:
    t.start()
for t in ts:
    t.join()
with open(out, "w") as f:
    f.write("".join(r + "\n" for r in res))
PY
export TESTS

# pair STALL: (re)start the pair with [session] stall_timeout = STALL.
pair() {
	[ -n "${ESP_PID:-}" ] && kill "$ESP_PID" "$ISP_PID" 2>/dev/null
	wait "${ESP_PID:-}" "${ISP_PID:-}" 2>/dev/null
	ESP_LOG=$T/esp-$1.log ISP_LOG=$T/isp-$1.log
	SESSION_EXTRA="window = 4M
stall_timeout = $1"
	ESP_EXTRA="[log]
audit = $T/audit-$1.log
[esp]"
	pair_start
}
fetch() { # MAXTIME
	curl -sS --fail --max-time "$1" --socks5-hostname "127.0.0.1:$SOCKS_PORT" \
		-o "$T/out" "http://127.0.0.1:$HTTP_PORT/f" 2>"$T/curl.err"
}

# 1. Off: the stalled clients hold up the download.
pair off
rm -f "$T/go1"
bg_start "$T/stalled1.log" python3 "$T/stalled.py" "$SOCKS_PORT" "$SPORT" 12 "$STREAM" "$T/go1" "$T/res1"
wait_for_log "$T/stalled1.log" stalled 20
sleep 2
fetch 6 && fail "the download went through with stall_timeout = off: the test shows nothing"
grep -q "Operation timed out" "$T/curl.err" || fail "curl: $(cat "$T/curl.err")"
touch "$T/go1"
wait_for_count "$T/res1" . 12 60
ok "stall_timeout = off: 12 stalled clients hold up another's download (curl timed out)"

# 2. 2 s: the stalled channels are reset; the download completes intact.
pair 2s
rm -f "$T/go2"
bg_start "$T/stalled2.log" python3 "$T/stalled.py" "$SOCKS_PORT" "$SPORT" 12 "$STREAM" "$T/go2" "$T/res2"
wait_for_log "$T/stalled2.log" stalled 20
sleep 2
fetch 30 || fail "download beside 12 stalled clients: $(cat "$T/curl.err")"
[ "$(sha "$T/out")" = "$(sha "$T/www/f")" ] || fail "download: SHA-256 differs"
n=$(count_log "$ESP_LOG" "resetting it, as its session is short of credit \(\[session\] stall_timeout\)")
[ "$n" -ge 1 ] || fail "the esp logged no reset of a stalled channel"
grep -q 'end="stalled: the session was short of credit"' "$T/audit-2s.log" ||
	fail "no audit line for a reset stalled channel"
touch "$T/go2"
wait_for_count "$T/res2" . 12 60
grep -q "^short" "$T/res2" && fail "a stalled client got a short stream that ended cleanly: $(sort "$T/res2" | uniq -c)"
resets=$(grep -c "^error" "$T/res2" || true)
[ "$resets" -ge 1 ] || fail "no stalled client saw its connection reset: $(sort "$T/res2" | uniq -c)"
ok "stall_timeout = 2s: $n stalled channels reset (logged, audited), the download intact; stalled clients: $(sort "$T/res2" | uniq -c | tr -s ' \n' ' ')"

# 3. One stalled client, the session not short of credit: left alone.
rm -f "$T/go3"
before=$(count_log "$ESP_LOG" "resetting it")
bg_start "$T/stalled3.log" python3 "$T/stalled.py" "$SOCKS_PORT" "$SPORT" 1 "$STREAM" "$T/go3" "$T/res3"
wait_for_log "$T/stalled3.log" stalled 20
sleep 6
[ "$(count_log "$ESP_LOG" "resetting it")" = "$before" ] || fail "a lone stalled channel was reset"
touch "$T/go3"
wait_for_count "$T/res3" . 1 60
[ "$(cat "$T/res3")" = intact ] || fail "the lone stalled client: $(cat "$T/res3")"
ok "a lone stalled client, 6 s: not reset, and its stream arrived intact"

# -t: the key's values, word for word.
sed "s/^stall_timeout = .*/stall_timeout = soon/" "$T/esp.conf" >"$T/bad.conf"
out=$("$BIN/esp" -t -c "$T/bad.conf" 2>&1) && fail "esp -t accepted stall_timeout = soon"
[ "$out" = "esp: $T/bad.conf: [session] stall_timeout: \"soon\" is not a duration (e.g. 10s, 500ms, 2m)" ] ||
	fail "stall_timeout = soon: $out"
sed "s/^stall_timeout = .*/stall_timeout = off/" "$T/isp.conf" >"$T/off.conf"
"$BIN/isp" -t -c "$T/off.conf" >/dev/null 2>&1 || fail "isp -t refused stall_timeout = off"
ok "-t: stall_timeout = soon refused, word for word; off accepted"
