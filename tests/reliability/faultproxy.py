"""A fault-injecting TCP proxy (asyncio) to put between a client service and its server.

Modes, switched at any time:
- `pass`: bytes flow through unchanged;
- `latency S`: every chunk is delivered S seconds after it was read, in order, both directions;
- `reset`: every open connection is aborted with a TCP RST, and so is each new one at once;
- `blackhole`: nothing flows and nothing is answered: connections stay open (new ones are accepted) but the
  proxy stops reading, so the peers' kernels hold what was sent, as on a partitioned network. Back in `pass`,
  everything resumes where it stopped.

Memory is bounded by construction: each direction of a connection holds at most QUEUE_CHUNKS chunks of CHUNK
bytes (a full queue stops the reading, so TCP pushes back on the sender), and at most MAX_CONNECTIONS
connections are open (more are reset).

Run it as a process (`python -m tests.reliability.faultproxy --upstream HOST:PORT`): it prints
`{"port": N}` once listening, then takes one command per line on stdin (`pass`, `latency 0.2`, `reset`,
`blackhole`, `stats`) and answers each with one JSON line. `FaultProxy` below drives such a process.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import socket
import struct
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

CHUNK = 64 << 10
QUEUE_CHUNKS = 8
MAX_CONNECTIONS = 64


def _abort(writer: asyncio.StreamWriter) -> None:
    """Close with RST instead of FIN: the peer sees 'connection reset by peer'."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


@dataclass(eq=False)
class Connection:
    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter | None = None
    tasks: list[asyncio.Task] = field(default_factory=list)

    def abort(self) -> None:
        for writer in (self.client, self.upstream):
            if writer is not None:
                _abort(writer)
        for task in self.tasks:
            task.cancel()


class Proxy:
    def __init__(self, upstream_host: str, upstream_port: int):
        self.upstream = (upstream_host, upstream_port)
        self.mode, self.latency = "pass", 0.0
        self.flowing = asyncio.Event()
        self.flowing.set()
        self.connections: set[Connection] = set()
        self.counts = {"accepted": 0, "reset": 0, "bytes": 0}

    def set_mode(self, mode: str, value: float = 0.0) -> None:
        self.mode = mode
        self.latency = value if mode == "latency" else 0.0
        if mode == "blackhole":
            self.flowing.clear()
        else:
            self.flowing.set()
        if mode == "reset":
            for connection in list(self.connections):
                self._reset(connection)

    def _reset(self, connection: Connection) -> None:
        connection.abort()
        self.connections.discard(connection)
        self.counts["reset"] += 1

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.counts["accepted"] += 1
        connection = Connection(writer)
        if self.mode == "reset" or len(self.connections) >= MAX_CONNECTIONS:
            self._reset(connection)
            return
        self.connections.add(connection)
        try:
            await self.flowing.wait()  # a blackholed connect is accepted, then hears nothing
            try:
                up_reader, connection.upstream = await asyncio.open_connection(*self.upstream)
            except OSError:
                self._reset(connection)
                return
            connection.tasks = [asyncio.create_task(self._pipe(reader, connection.upstream)),
                                asyncio.create_task(self._pipe(up_reader, writer))]
            await asyncio.gather(*connection.tasks, return_exceptions=True)
        except asyncio.CancelledError:
            connection.abort()  # the proxy is shutting down
        finally:
            if connection in self.connections:
                self.connections.discard(connection)
                for end in (writer, connection.upstream):
                    if end is not None:
                        end.close()

    async def _pipe(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue(maxsize=QUEUE_CHUNKS)

        async def read() -> None:
            try:
                while True:
                    await self.flowing.wait()
                    data = await source.read(CHUNK)
                    if not data:
                        break
                    await queue.put((loop.time() + self.latency, data))
            except (ConnectionError, OSError):
                pass
            finally:
                await queue.put(None)

        async def write() -> None:
            while (item := await queue.get()) is not None:
                due, data = item
                if due > loop.time():
                    await asyncio.sleep(due - loop.time())
                await self.flowing.wait()
                sink.write(data)
                self.counts["bytes"] += len(data)
                await sink.drain()
            if sink.can_write_eof():
                sink.write_eof()

        reading = asyncio.create_task(read())
        try:
            await write()
        except (ConnectionError, OSError):
            pass
        finally:
            reading.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reading

    def stats(self) -> dict:
        return {"mode": self.mode, "latency": self.latency, "open": len(self.connections), **self.counts}


async def serve(upstream: str, port: int) -> None:
    host, _, upstream_port = upstream.rpartition(":")
    proxy = Proxy(host, int(upstream_port))
    server = await asyncio.start_server(proxy.handle, "127.0.0.1", port)
    print(json.dumps({"port": server.sockets[0].getsockname()[1]}), flush=True)
    async with server:
        while line := await asyncio.to_thread(sys.stdin.readline):
            words = line.split()
            if not words:
                continue
            if words[0] in ("pass", "latency", "reset", "blackhole"):
                proxy.set_mode(words[0], float(words[1]) if len(words) > 1 else 0.0)
            elif words[0] != "stats":
                print(json.dumps({"error": f"unknown command {words[0]!r}"}), flush=True)
                continue
            print(json.dumps(proxy.stats()), flush=True)
    # stdin closed: the driver is gone
    for connection in list(proxy.connections):
        connection.abort()


class FaultProxy:
    """A proxy process in front of `upstream` (host:port); `target` is where clients should connect."""

    def __init__(self, upstream: str):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.reliability.faultproxy", "--upstream", upstream],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[2])
        assert self.process.stdout is not None
        self.port = json.loads(self.process.stdout.readline())["port"]

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def command(self, text: str) -> dict:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(text + "\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())

    def set(self, mode: str, value: float | None = None) -> dict:
        return self.command(mode if value is None else f"{mode} {value}")

    def close(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream", required=True, help="host:port to forward to")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (0: a free one)")
    options = parser.parse_args()
    asyncio.run(serve(options.upstream, options.port))


if __name__ == "__main__":
    main()
