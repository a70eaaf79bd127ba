#!/usr/bin/env python3
"""Test fixture: a minimal SOCKS5 server (CONNECT only, loopback only) that
insists on username/password (RFC 1929). Prints its port on stdout, then
one line per client: the methods offered and the login outcome.

socks5d.py USER PASSWORD"""
import asyncio
import sys

USER, PASSWORD = sys.argv[1].encode(), sys.argv[2].encode()


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
        say("methods", methods.hex())
        if 2 not in methods:
            w.write(b"\x05\xff")
            return
        w.write(b"\x05\x02")
        await r.readexactly(1)
        user = await r.readexactly((await r.readexactly(1))[0])
        pw = await r.readexactly((await r.readexactly(1))[0])
        if (user, pw) != (USER, PASSWORD):
            say("login refused", user.decode())
            w.write(b"\x01\x01")
            return
        say("login ok", user.decode())
        w.write(b"\x01\x00")
        ver, cmd, _, atyp = await r.readexactly(4)
        if atyp != 1:
            w.write(b"\x05\x08\x00\x01" + bytes(6))
            return
        host = ".".join(str(b) for b in await r.readexactly(4))
        port = int.from_bytes(await r.readexactly(2), "big")
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
    say(srv.sockets[0].getsockname()[1])
    async with srv:
        await asyncio.wait_for(srv.serve_forever(), 600)


asyncio.run(main())
