#!/bin/bash
# Non-blocking clients through the hook: poll, select, epoll (registered
# after connect, and edge-triggered before connect), Python asyncio.
# Each fetch is checked by SHA-256 and getpeername by the client.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/common.sh"
need_cmd python3
sh_pair

for mode in poll select epoll epoll-pre block; do
	before=$(esp_clients)
	hooked "$NB" "$mode" 127.0.0.1 "$HTTP_PORT" /blob >"$T/$mode.out" \
	    2>"$T/$mode.err" || fail "$mode client failed: $(cat "$T/$mode.err")"
	[ "$(sha "$T/$mode.out")" = "$BLOB_SHA" ] || fail "$mode: SHA-256 differs"
	grep -q "peer 127.0.0.1:$HTTP_PORT" "$T/$mode.err" ||
	    fail "$mode: getpeername is not the original destination"
	[ "$(esp_clients)" -gt "$before" ] || fail "$mode: did not use the esp"
	ok "$mode client fetched through the esp, SHA-256 and peer match"
done

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
