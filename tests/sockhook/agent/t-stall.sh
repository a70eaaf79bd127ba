#!/bin/bash
# An agent whose connections keep holding an isp's session up loses its
# session. A program through the agent asks for large files and reads
# nothing, again and again: each time the isp's channels fill the
# session's window at the esp and are reset after [session] stall_timeout
# (one episode, which others on that session wait out). The third episode
# within 60 s ends the agent's session (GOAWAY 3, the reason named); the
# agent dials again, and a fetch through it is intact.
. "$(dirname "$0")/../../lib.sh"
SH_MODE=agent
. "$(dirname "$0")/../common.sh"
need_cmd curl python3
SESSION_EXTRA="window = 1m
channel_window_max = 512k
stall_timeout = 1s"
sh_pair
head -c $((32 << 20)) /dev/urandom >"$T/www/big"

cat >"$T/noread.py" <<'PY'
# noread.py PORT ROUNDS: each round, 4 connections ask for /big and read
# nothing until all are reset (or 15 s pass); prints each round's end.
import select, socket, sys, time
for r in range(int(sys.argv[2])):
    socks = []
    for _ in range(4):
        try:
            s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
        except OSError as e:
            print("round %d: connect: %s" % (r, e), flush=True)
            sys.exit(0)
        s.sendall(b"GET /big HTTP/1.0\r\nHost: x\r\n\r\n")
        socks.append(s)
    p = select.poll()
    for s in socks:
        p.register(s, select.POLLERR | select.POLLHUP)
    reset, end = set(), time.time() + 15
    while len(reset) < len(socks) and time.time() < end:
        for fd, ev in p.poll(500):
            reset.add(fd)
    print("round %d: %d of 4 reset" % (r, len(reset)), flush=True)
    for s in socks:
        s.close()
PY
hooked python3 "$T/noread.py" "$HTTP_PORT" 4 >"$T/noread.out" 2>&1
wait_for_log "$ESP_LOG" "agent [0-9.:]+: its connections held an isp's session up 3 times in 60 s: ending its session" 20
n=$(count_log "$ESP_LOG" "resetting it, as its session is short of credit")
[ "$n" -ge 3 ] || fail "only $n stall resets: $(cat "$T/noread.out")"
wait_for_log "$ESP_LOG" "session with .* failed: its connections held an isp's session up 3 times in 60 s" 10
ok "three stall episodes from one agent's program ($(tr '\n' ';' <"$T/noread.out")): its session ends, the reason named"

n=$(count_log "$ESP_LOG" "user shuser logged in by password")
wait_for_count "$ESP_LOG" "user shuser logged in by password" $((n + 1)) 40
hooked curl -sS --fail --max-time 30 -o "$T/after" "http://127.0.0.1:$HTTP_PORT/blob" ||
	fail "a fetch after the agent's session ended failed"
[ "$(sha "$T/after")" = "$BLOB_SHA" ] || fail "SHA-256 differs"
ok "the agent dials again and a fetch through it is intact"
