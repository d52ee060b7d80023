"""A small scripted AMI server for unit tests of the connection's life (login, ping, loss).

It is not a substitute for Asterisk (the lab tests use the real one); it lets a test cut the
connection, go silent or push a recorded transcript at a chosen moment.
"""

from __future__ import annotations

import asyncio
import re

from pbx_bridge.ami.settings import AmiConfig


class FakeAmi:
    def __init__(self, secret: str = "s3cret", banner: bytes = b"Asterisk Call Manager/9.0.0\r\n") -> None:
        self.secret = secret
        self.banner = banner
        self.answer_pings = True
        self.alive_uniqueids: list[str] = []
        self.writers: list[asyncio.StreamWriter] = []
        self.logins = 0
        self.actions: list[dict] = []
        self.server: asyncio.base_events.Server | None = None
        self.port = 0
        self.logged_in = asyncio.Event()
        self._handlers: set[asyncio.Task] = set()

    async def start(self, port: int = 0) -> "FakeAmi":
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", port)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        self.drop_all()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None

    def drop_all(self) -> None:
        for writer in self.writers:
            writer.transport.abort()
        self.writers.clear()
        self.logged_in.clear()

    async def push(self, data: bytes) -> None:
        for writer in self.writers:
            writer.write(data)
            await writer.drain()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        writer.write(self.banner)
        try:
            while True:
                raw = await reader.readuntil(b"\r\n\r\n")
                fields = dict(re.findall(r"^([^:\r\n]+): ?(.*?)\r$", raw.decode(), flags=re.M))
                self.actions.append(fields)
                await self._answer(fields, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass

    async def _answer(self, fields: dict, writer: asyncio.StreamWriter) -> None:
        action, action_id = fields.get("Action", "").lower(), fields.get("ActionID", "")
        if action == "login":
            ok = fields.get("Secret") == self.secret
            if ok:
                self.logins += 1
            status = "Success\r\nMessage: Authentication accepted" if ok else "Error\r\nMessage: Authentication failed"
            writer.write(f"Response: {status}\r\nActionID: {action_id}\r\n\r\n".encode())
            if ok:
                self.logged_in.set()
        elif action == "ping":
            if self.answer_pings:
                writer.write(f"Response: Success\r\nActionID: {action_id}\r\nPing: Pong\r\n\r\n".encode())
        elif action == "coreshowchannels":
            writer.write(f"Response: Success\r\nActionID: {action_id}\r\nEventList: start\r\n"
                         f"Message: Channels will follow\r\n\r\n".encode())
            for uniqueid in self.alive_uniqueids:
                writer.write(f"Event: CoreShowChannel\r\nActionID: {action_id}\r\nUniqueid: {uniqueid}\r\n\r\n".encode())
            writer.write(f"Event: CoreShowChannelsComplete\r\nActionID: {action_id}\r\nEventList: Complete\r\n"
                         f"ListItems: {len(self.alive_uniqueids)}\r\n\r\n".encode())
        elif action == "queueadd":  # Asterisk's words, which panoramisk 1.4 mistakes for a list
            writer.write(f"Response: Success\r\nActionID: {action_id}\r\nMessage: Added interface to queue\r\n\r\n"
                         .encode())
        else:
            writer.write(f"Response: Success\r\nActionID: {action_id}\r\n\r\n".encode())
        await writer.drain()


def ami_config(port: int, **over) -> AmiConfig:
    """The AMI settings the client tests use against a FakeAmi: short pings, fast reconnects."""
    values = dict(host="127.0.0.1", port=port, username="pbx-bridge", connect_timeout=2, ping_interval=0.2,
                  ping_timeout=0.2, reconnect_min=0.05, reconnect_max=0.2)
    values.update(over)
    return AmiConfig(**values)


async def until(predicate, timeout: float = 5.0) -> None:
    """Wait (bounded: a hang check, not a speed check) until `predicate()` holds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)
