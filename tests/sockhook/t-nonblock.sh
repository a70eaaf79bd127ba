#!/bin/bash
# Non-blocking clients through the hook: poll, select, epoll (registered
# after connect, and edge-triggered before connect), Python asyncio.
# Each fetch is checked by SHA-256 and getpeername by the client.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/common.sh"
need_cmd python3
sh_pair

# len24: an IPv6 address 24 bytes long (no scope id), which the kernel
# takes; reconnect: connect on a dup of a connected socket and on a
# listener says EISCONN and breaks neither; sendmmsg: MSG_FASTOPEN.
for mode in poll select epoll epoll-pre block fclose cancel len24 reconnect sendmmsg; do
	before=$(esp_clients)
	NB_HOST=127.0.0.1 NB_PATH=/blob \
	NB_CANCEL_PORT=$CLOSED_PORT hooked "$NB" "$mode" 127.0.0.1 "$HTTP_PORT" /blob >"$T/$mode.out" \
	    2>"$T/$mode.err" || fail "$mode client failed: $(cat "$T/$mode.err")"
	[ "$(sha "$T/$mode.out")" = "$BLOB_SHA" ] || fail "$mode: SHA-256 differs"
	grep -q "peer 127.0.0.1:$HTTP_PORT" "$T/$mode.err" ||
	    fail "$mode: getpeername is not the original destination"
	[ "$(esp_clients)" -gt "$before" ] || fail "$mode: did not use the esp"
	ok "$mode client fetched through the esp, SHA-256 and peer match"
done
grep -q "EISCONN on a dup and on a listener" "$T/reconnect.err" || fail "reconnect: $(cat "$T/reconnect.err")"

# An MPTCP socket is TCP to the hook too.
if python3 -c 'import socket; socket.socket(socket.AF_INET, socket.SOCK_STREAM, 262)' 2>/dev/null; then
	before=$(esp_clients)
	hooked python3 - "$HTTP_PORT" "$T/mptcp.out" <<'PY' || fail "MPTCP client failed"
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM, 262)
s.settimeout(30)
s.connect(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET /blob HTTP/1.0\r\nHost: x\r\n\r\n")
data = b""
while chunk := s.recv(65536):
    data += chunk
open(sys.argv[2], "wb").write(data.split(b"\r\n\r\n", 1)[1])
PY
	[ "$(sha "$T/mptcp.out")" = "$BLOB_SHA" ] || fail "MPTCP: SHA-256 differs"
	[ "$(esp_clients)" -gt "$before" ] || fail "MPTCP: did not use the esp"
	ok "an MPTCP socket is connected through the esp"
else
	echo "skip: MPTCP (this kernel does not make MPTCP sockets)"
fi

before=$(esp_clients)
hooked python3 - "$HTTP_PORT" "$T/asyncio.out" "$CLOSED_PORT" <<'PY' || fail "asyncio client failed"
import asyncio, sys

async def main(port, out):
    r, w = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 30)
    peer = w.get_extra_info("peername")
    assert peer[:2] == ("127.0.0.1", port), peer
    w.write(b"GET /blob HTTP/1.0\r\nHost: x\r\n\r\n")
    data = await asyncio.wait_for(r.read(), 30)
    head, body = data.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.0 200"), head
    open(out, "wb").write(body)
    w.close()
    # A refused port: the error surfaces from the event loop.
    try:
        await asyncio.wait_for(asyncio.open_connection("127.0.0.1", int(sys.argv[3])), 30)
    except ConnectionRefusedError:
        print("asyncio: refused as expected")
    else:
        raise SystemExit("asyncio: refused port connected")

asyncio.run(main(int(sys.argv[1]), sys.argv[2]))
PY
[ "$(sha "$T/asyncio.out")" = "$BLOB_SHA" ] || fail "asyncio: SHA-256 differs"
[ "$(esp_clients)" -gt "$before" ] || fail "asyncio did not use the esp"
ok "python asyncio client fetched through the esp, SHA-256 and peer match"

# libevent (bufferevent_socket_connect on its default backend, epoll).
EV=$TOP/build/tests/sockhook/evclient
[ -x "$EV" ] || fail "$EV is not built"
before=$(esp_clients)
hooked "$EV" 127.0.0.1 "$HTTP_PORT" /blob >"$T/ev.out" 2>"$T/ev.err" ||
    fail "libevent client failed: $(cat "$T/ev.err")"
[ "$(sha "$T/ev.out")" = "$BLOB_SHA" ] || fail "libevent: SHA-256 differs"
[ "$(esp_clients)" -gt "$before" ] || fail "libevent did not use the esp"
expect_errno ECONNREFUSED hooked "$EV" 127.0.0.1 "$CLOSED_PORT" /
ok "libevent ($(sed -n 's/^evclient: backend //p' "$T/ev.err")) fetched through the esp; refusal is ECONNREFUSED"

# libuv, through Node.js when it is installed.
if command -v node >/dev/null 2>&1; then
	before=$(esp_clients)
	hooked node -e '
const net = require("net"), fs = require("fs");
const [port, out, closed] = process.argv.slice(1);
const chunks = [];
const s = net.connect(+port, "127.0.0.1", () => {
	if (s.remoteAddress !== "127.0.0.1" || s.remotePort !== +port)
		throw new Error("peer " + s.remoteAddress + ":" + s.remotePort);
	s.write("GET /blob HTTP/1.0\r\nHost: x\r\n\r\n");
});
s.on("data", (d) => chunks.push(d));
s.on("end", () => {
	const all = Buffer.concat(chunks);
	fs.writeFileSync(out, all.subarray(all.indexOf("\r\n\r\n") + 4));
	const r = net.connect(+closed, "127.0.0.1");
	r.on("error", (e) => { console.log("node:", e.code); process.exit(e.code === "ECONNREFUSED" ? 0 : 1); });
	r.on("connect", () => process.exit(1));
});
setTimeout(() => process.exit(2), 30000).unref();
' "$HTTP_PORT" "$T/node.out" "$CLOSED_PORT" || fail "node client failed"
	[ "$(sha "$T/node.out")" = "$BLOB_SHA" ] || fail "node: SHA-256 differs"
	[ "$(esp_clients)" -gt "$before" ] || fail "node did not use the esp"
	ok "node (libuv) fetched through the esp; refusal is ECONNREFUSED"
else
	echo "note: node is not installed, libuv is not tried"
fi

# A pending connect whose descriptor the program closes behind the hook's
# back (fclose), the number then reused for another file: when the
# connect ends (here it times out against a silent esp), the hook leaves
# the new file alone.
SILENT=$(free_port)
bg_start "$T/silent.log" python3 -c '
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(8); print("listening", flush=True)
conns = []
end = time.time() + 30
while time.time() < end:
    s.settimeout(1)
    try:
        conns.append(s.accept()[0])
    except socket.timeout:
        pass
' "$SILENT"
wait_for_log "$T/silent.log" listening 10
printf '[sockhook]\nesp = 127.0.0.1:%s\nroute = 127.0.0.1/32:%s\ntimeout = 1s\n' "$SILENT" "$HTTP_PORT" >"$T/silent.conf"
NB_WAIT_MS=2000 "$BIN/sockhook" -c "$T/silent.conf" -- "$NB" fclose-pending 127.0.0.1 "$HTTP_PORT" / \
	>"$T/pending.out" 2>"$T/pending.err" || fail "fclose-pending: $(cat "$T/pending.out" "$T/pending.err")"
[ "$(cat "$T/pending.out")" = kept ] || fail "fclose-pending: $(cat "$T/pending.out")"
ok "a pending connect closed behind the hook's back: the reused descriptor keeps its new file"
# The hook's thread for a pending connect never runs the program's signal
# handlers: a signal the main thread blocks waits for it.
"$BIN/sockhook" -c "$T/silent.conf" -- "$NB" signal-pending 127.0.0.1 "$HTTP_PORT" / \
	>"$T/signal.out" 2>"$T/signal.err" || fail "signal-pending: $(cat "$T/signal.out" "$T/signal.err")"
[ "$(cat "$T/signal.out")" = main ] || fail "signal-pending: the handler ran on: $(cat "$T/signal.out")"
ok "a signal sent while a connect is pending runs its handler on the program's thread, not the hook's"

# A blocking connect is cut short as the kernel's is: by a signal whose
# handler has no SA_RESTART (EINTR), or by SO_SNDTIMEO (EINPROGRESS); it
# then goes on in the background (EALREADY, writable, SO_ERROR, EISCONN).
# A signal with SA_RESTART does not cut it. A door that answers each
# CONNECT after 3 s shows when connect() returned.
bg_start "$T/slow.log" /usr/bin/python3 "$TOP/tests/sockhook/slowsocks.py" 3
wait_for_log "$T/slow.log" listening 10
SLOW=$(awk '/^listening/ { print $2; exit }' "$T/slow.log")
printf '[sockhook]\nesp = 127.0.0.1:%s\nroute = 127.0.0.1/32\ntimeout = 20s\n' "$SLOW" >"$T/slow.conf"
for m in intr sndtimeo; do
	want=EINTR
	[ "$m" = sndtimeo ] && want=EINPROGRESS
	"$BIN/sockhook" -c "$T/slow.conf" -- "$NB" "$m" 127.0.0.1 "$HTTP_PORT" /blob \
	    >"$T/$m.out" 2>"$T/$m.err" || fail "$m: $(cat "$T/$m.err")"
	[ "$(sha "$T/$m.out")" = "$BLOB_SHA" ] || fail "$m: SHA-256 differs"
	ms=$(sed -n "s/^nbconnect: connect: $want after \([0-9]*\) ms.*/\1/p" "$T/$m.err")
	[ -n "$ms" ] || fail "$m: connect did not fail with $want: $(cat "$T/$m.err")"
	[ "$ms" -lt 2500 ] || fail "$m: connect returned after $ms ms, when the door answered, not when cut short"
	ok "$m: a blocking connect ends with $want after $ms ms, goes on in the background, and fetches the blob intact"
done
"$BIN/sockhook" -c "$T/slow.conf" -- "$NB" vfork 127.0.0.1 "$HTTP_PORT" /blob \
    >"$T/vfork.out" 2>"$T/vfork.err" || fail "vfork: $(cat "$T/vfork.err")"
[ "$(sha "$T/vfork.out")" = "$BLOB_SHA" ] || fail "vfork: SHA-256 differs"
ok "a vfork child that closes a pending connect's descriptor leaves the parent's connect alone"
"$BIN/sockhook" -c "$T/slow.conf" -- "$NB" setopt-pending 127.0.0.1 "$HTTP_PORT" /blob \
    >"$T/setopt.out" 2>"$T/setopt.err" || fail "setopt-pending: $(cat "$T/setopt.err")"
[ "$(sha "$T/setopt.out")" = "$BLOB_SHA" ] || fail "setopt-pending: SHA-256 differs"
ok "TCP_NODELAY set while a connect is pending holds on the connected socket"
"$BIN/sockhook" -c "$T/slow.conf" -- "$NB" intr 127.0.0.1 "$CLOSED_PORT" / \
    >/dev/null 2>"$T/intr-refused.err" && fail "intr to a closed port succeeded"
grep -q "^nbconnect: connect: EINTR after" "$T/intr-refused.err" &&
    grep -q "nbconnect intr: connect: errno=ECONNREFUSED" "$T/intr-refused.err" ||
    fail "intr to a closed port: $(cat "$T/intr-refused.err")"
ok "an interrupted connect to a closed port: EINTR, then SO_ERROR says ECONNREFUSED"
"$BIN/sockhook" -c "$T/slow.conf" -- "$NB" restart 127.0.0.1 "$HTTP_PORT" /blob \
    >"$T/restart.out" 2>"$T/restart.err" || fail "restart: $(cat "$T/restart.err")"
[ "$(sha "$T/restart.out")" = "$BLOB_SHA" ] || fail "restart: SHA-256 differs"
ok "signals with SA_RESTART do not cut a blocking connect short: $(grep -o 'after [0-9]* signals' "$T/restart.err")"

# A program that closes a non-blocking connect's descriptor while it is
# pending: the hook's helper lets go of its connection to the door (or the
# agent) at once, not at [sockhook] timeout or when the program exits.
HOLD=$(free_port)
bg_start "$T/hold.log" /usr/bin/python3 -c '
import socket, sys, threading, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(8); print("listening", flush=True)
def hold(c, t0):
    while c.recv(4096):
        pass
    print("closed after %d ms" % ((time.monotonic() - t0) * 1000), flush=True)
end = time.time() + 30
s.settimeout(1)
while time.time() < end:
    try:
        c = s.accept()[0]
    except socket.timeout:
        continue
    threading.Thread(target=hold, args=(c, time.monotonic()), daemon=True).start()
' "$HOLD"
wait_for_log "$T/hold.log" listening 10
printf '[sockhook]\nesp = 127.0.0.1:%s\nroute = 127.0.0.1/32:%s\ntimeout = 20s\n' "$HOLD" "$HTTP_PORT" >"$T/hold.conf"
NB_WAIT_MS=4000 "$BIN/sockhook" -c "$T/hold.conf" -- "$NB" close-pending 127.0.0.1 "$HTTP_PORT" / \
	2>"$T/hold.err" || fail "close-pending: $(cat "$T/hold.err")"
wait_for_log "$T/hold.log" "closed after" 10
ms=$(sed -n 's/^closed after \([0-9]*\) ms/\1/p' "$T/hold.log")
[ "$ms" -lt 3000 ] || fail "close-pending: the door's connection was held $ms ms, until the program left"
ok "a pending connect the program closes lets go of the door after $ms ms"

# A signal handler's hooked calls (epoll_ctl, close) that interrupt a
# hooked call holding the hook's table lock: they go straight on, where
# they took the lock again and hung the program.
timeout 30 "$BIN/sockhook" -c "$T/hold.conf" -- "$NB" sigepoll 127.0.0.1 1 / >"$T/sigepoll.out" 2>&1 ||
	fail "sigepoll: exit $?: $(cat "$T/sigepoll.out")"
ok "hooked calls in a signal handler every 100 us, for 2 s: no hang ($(cat "$T/sigepoll.out"))"
