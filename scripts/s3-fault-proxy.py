#!/usr/bin/env python3
"""A TCP proxy in front of the test S3 server that fails requests as told, for the S3 retry tests.

    s3-fault-proxy.py UPSTREAM_PORT PLAN

PLAN is a comma-separated list of what happens to successive requests: `slowdown` (503 SlowDown),
`500` (500 InternalError), `nosuchbucket` (404 NoSuchBucket, as SeaweedFS answers a CreateBucket
that races another), `reset` (the connection is reset before any answer) or `ok` (passed
through); requests beyond the plan pass through. Every request gets a connection of its own
(`Connection: close` is added), so each one meets the plan. Prints the port it listens on, then
`METHOD PATH FAULT` per request.
"""
import asyncio
import socket
import struct
import sys

ERRORS = {"slowdown": (503, "Slow Down", "SlowDown"), "500": (500, "Internal Server Error", "InternalError"),
          "nosuchbucket": (404, "Not Found", "NoSuchBucket")}


async def main():
    upstream, plan = int(sys.argv[1]), [step for step in sys.argv[2].split(",") if step]

    async def handle(reader, writer):
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            writer.close()
            return
        request_line, _, headers = head.partition(b"\r\n")
        method, target = request_line.decode().split(" ")[:2]
        fault = plan.pop(0) if plan else "ok"
        print(method, target.split("?")[0], fault, flush=True)
        if fault == "reset":
            writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.close()
            return
        if fault in ERRORS:
            length = next((int(line.split(b":", 1)[1]) for line in headers.split(b"\r\n") if line.lower().startswith(b"content-length:")), 0)
            await reader.readexactly(length)
            status, reason, code = ERRORS[fault]
            body = f"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Message>injected</Message></Error>".encode()
            writer.write(f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/xml\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)
            await writer.drain()
            writer.close()
            return
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", upstream)
        up_writer.write(request_line + b"\r\nConnection: close\r\n" + headers)

        async def pipe(source, sink):
            while data := await source.read(65536):
                sink.write(data)
                await sink.drain()
            sink.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer), return_exceptions=True)

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


asyncio.run(main())
