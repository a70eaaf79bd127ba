#!/usr/bin/env python3
"""Test fixture: a SOCKS5 door (no login, CONNECT to 127.0.0.0/8 only) that
answers each CONNECT only after DELAY seconds, as an esp across a slow path
would. Prints "listening PORT", then "request HOST PORT" per CONNECT.

slowsocks.py DELAY"""
import asyncio
import sys

DELAY = float(sys.argv[1])


def say(*a):
    print(*a, flush=True)


async def pipe(r, w):
    try:
        while data := await r.read(65536):
            w.write(data)
            await w.drain()
    finally:
        w.close()


async def client(r, w):
    try:
        ver, n = await r.readexactly(2)
        methods = await r.readexactly(n)
        if 0 not in methods:
            w.write(b"\x05\xff")
            return
        w.write(b"\x05\x00")
        ver, cmd, _, atyp = await r.readexactly(4)
        if atyp != 1 or cmd != 1:
            w.write(b"\x05\x08\x00\x01" + bytes(6))
            return
        host = ".".join(str(b) for b in await r.readexactly(4))
        port = int.from_bytes(await r.readexactly(2), "big")
        say("request", host, port)
        await asyncio.sleep(DELAY)
        if not host.startswith("127."):
            w.write(b"\x05\x02\x00\x01" + bytes(6))
            return
        try:
            ur, uw = await asyncio.open_connection(host, port)
        except ConnectionRefusedError:
            w.write(b"\x05\x05\x00\x01" + bytes(6))
            return
        w.write(b"\x05\x00\x00\x01" + bytes(6))
        await asyncio.gather(pipe(r, uw), pipe(ur, w))
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        w.close()


async def main():
    srv = await asyncio.start_server(client, "127.0.0.1", 0)
    say("listening", srv.sockets[0].getsockname()[1])
    async with srv:
        await asyncio.wait_for(srv.serve_forever(), 120)


asyncio.run(main())
