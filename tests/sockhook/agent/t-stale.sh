#!/bin/bash
# An agent that is gone must not leave its programs talking to whoever
# takes its port. A stopped agent removes its state file; one killed
# outright cannot, and another local user may then listen on its port:
# a program still pointed at that state checks, before it sends the
# token or the destination, that the socket listening there is its own
# user's, and fails its connect instead (ENETUNREACH, curl exit 7).
. "$(dirname "$0")/../../lib.sh"
SH_MODE=agent
. "$(dirname "$0")/../common.sh"
need_cmd curl python3 setpriv
[ "$(id -u)" = 0 ] || skip "needs root (a second local user)"
sh_pair
url=http://127.0.0.1:$HTTP_PORT/blob
dir=$XDG_RUNTIME_DIR/dynpass

# Stopped by a signal: the state goes.
bg_start "$T/fg1.log" "$BIN/sockhook" agent -c "$T/sockhook.conf"
fg=$BG_PID
wait_for_log "$T/fg1.log" "logged in as shuser" 10
state=$dir/$(ls "$dir" | grep -v "[.]" | head -1)
[ -f "$state" ] || fail "no state file in $dir"
SOCKHOOK_CONF=$T/sockhook.conf SOCKHOOK_AGENT_STATE=$state LD_PRELOAD=$HOOKLIB \
	curl -sS -o "$T/a.out" "$url" || fail "curl through the agent itself failed"
[ "$(sha "$T/a.out")" = "$BLOB_SHA" ] || fail "SHA-256 differs"
kill -TERM "$fg"
wait "$fg" 2>/dev/null
[ ! -e "$state" ] || fail "the agent stopped by SIGTERM left its state"
# The esp tells the isp, which forgets the login (LOGIN step 3).
wait_for_log "$ISP_LOG" 'agent login [0-9]+ of user "shuser" over: the agent left' 10
ok "the agent's own port passes the check (1 MiB by hash); stopped by SIGTERM, it removes its state file"

# Killed: the state stays. (Before any program connected: a port that
# served has TIME_WAIT sockets on it for a minute, which keep others off.)
bg_start "$T/fg2.log" "$BIN/sockhook" agent -c "$T/sockhook.conf"
fg=$BG_PID
wait_for_log "$T/fg2.log" "logged in as shuser" 10
kill -KILL "$fg"
wait "$fg" 2>/dev/null
[ -f "$state" ] || fail "no state left by the killed agent"
port=$(cut -d' ' -f2 "$state")

# Another user takes the port and waits for a token.
cat >"$T/trap.py" <<'PY'
import socket, sys, time
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", int(sys.argv[1])))
ls.listen(8)
ls.settimeout(0.2)
print("listening", flush=True)
got, conns, end = 0, 0, time.time() + 8
while time.time() < end:
    try:
        c, _ = ls.accept()
    except socket.timeout:
        continue
    conns += 1
    c.settimeout(1)
    try:
        while True:
            b = c.recv(4096)
            if not b:
                break
            got += len(b)
            c.sendall(b"\x05\x02\x01\x00\x05\x00\x00\x01\x7f\x00\x00\x01\x00\x50")
    except OSError:
        pass
    c.close()
    print("connection %d: %d bytes so far" % (conns, got), flush=True)
print("done: %d connections, %d bytes" % (conns, got), flush=True)
PY
chmod 711 "$T"
chmod 644 "$T/trap.py"
bg_start "$T/trap.out" setpriv --reuid=nobody --regid=nogroup --clear-groups /usr/bin/python3 "$T/trap.py" "$port"
wait_for_log "$T/trap.out" listening 10
if SOCKHOOK_CONF=$T/sockhook.conf SOCKHOOK_AGENT_STATE=$state LD_PRELOAD=$HOOKLIB \
	curl -sS -o "$T/b.out" "$url" 2>"$T/curl.err"; then
	fail "curl went through another user's port"
else
	rc=$?
fi
chmod 700 "$T"
[ "$rc" = 7 ] || fail "curl exit $rc, wanted 7 (could not connect): $(cat "$T/curl.err")"
grep -q "the agent's port $port is another user's (uid $(id -u nobody)): the agent is gone and its state is stale; not sending the token" "$T/curl.err" ||
	fail "no line about the stale agent: $(cat "$T/curl.err")"
wait_for_log "$T/trap.out" "^connection 1: " 5
grep -q "^connection 1: 0 bytes so far" "$T/trap.out" || fail "the other user's listener got bytes: $(cat "$T/trap.out")"
ok "a killed agent's port taken by another user: the program's connect fails (curl 7) and that user gets 0 bytes"
