"""Asterisk's app_voicemail file spool, read and changed the way app_voicemail itself does.

Layout: `<spool>/<context>/<box>/<Folder>/msgNNNN.{txt,wav,gsm,...}`, numbered from 0 without
gaps. A message moves from INBOX to Old only once it is handled; the move takes app_voicemail's
own directory lock (`.lock`, made by linking a temporary file) so that a message being recorded or
played by Asterisk at that moment is never half-moved, and INBOX is renumbered afterwards as
app_voicemail expects.

The daemon and Asterisk may see the spool under different paths (a chroot, a container):
`root` is the daemon's view, `asterisk_root` the one used in AGI commands.
"""

from __future__ import annotations

import configparser
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

from pbx_bridge.numbers import PhoneNumber, phone_number_or_none

_MSG = re.compile(r"^msg(\d{4})\.txt$")
_CALLERID = re.compile(r'^\s*(?P<name>.*?)\s*<(?P<num>[^<>]*)>\s*$', re.DOTALL)  # the number: the last <...>


class SpoolLockTimeout(Exception):
    pass


@dataclass(frozen=True)
class Message:
    mailbox: str  # box@context
    folder: str
    number: int
    msg_id: str
    caller_num: PhoneNumber | None  # None: anonymous, or a caller ID that is not a number
    caller_name: str
    origtime: int
    duration: int

    @property
    def key(self) -> str:
        return f"{self.mailbox}/{self.msg_id}"


def split_mailbox(mailbox: str) -> tuple[str, str]:
    box, _, context = mailbox.partition("@")
    return box, context or "default"


def parse_callerid(raw: str) -> tuple[PhoneNumber | None, str]:
    """(number, name) of a message's `callerid`; the number is where a caller's number enters.

    The caller ID is what the caller's side sent: a number that is not plain digits is None (and
    logged), so the message is treated as anonymous and never dialled back. The name stays text.
    """
    match = _CALLERID.match(raw or "")
    if match:
        name = match.group("name").strip()
        if len(name) >= 2 and name[0] == name[-1] == '"':
            name = name[1:-1]
        return phone_number_or_none(match.group("num"), source="voicemail"), name.strip()
    value = (raw or "").strip().strip('"')
    try:
        return PhoneNumber(value), ""
    except ValueError:
        return None, value


class Spool:
    def __init__(self, root: str | Path, asterisk_root: str | None = None) -> None:
        self.root = Path(root)
        self.asterisk_root = asterisk_root or str(root)

    def folder(self, mailbox: str, folder: str) -> Path:
        box, context = split_mailbox(mailbox)
        return self.root / context / box / folder

    def asterisk_path(self, message: Message) -> str:
        """The message's audio as Asterisk names it in STREAM FILE (no extension)."""
        box, context = split_mailbox(message.mailbox)
        return f"{self.asterisk_root}/{context}/{box}/{message.folder}/msg{message.number:04d}"

    def messages(self, mailbox: str, folder: str = "INBOX") -> list[Message]:
        """The folder's messages, oldest first; unreadable metadata is skipped, not fatal."""
        directory = self.folder(mailbox, folder)
        found = []
        try:
            names = os.listdir(directory)
        except FileNotFoundError:
            return []
        for name in names:
            match = _MSG.match(name)
            if not match:
                continue
            parser = configparser.ConfigParser(interpolation=None, strict=False)
            try:
                parser.read(directory / name, encoding="utf-8")
                meta = parser["message"]
            except (configparser.Error, KeyError, UnicodeDecodeError, OSError):
                continue
            num, caller = parse_callerid(meta.get("callerid", ""))
            origtime = int(meta.get("origtime", "0") or 0)
            found.append(Message(
                mailbox=mailbox, folder=folder, number=int(match.group(1)),
                msg_id=meta.get("msg_id", "") or f"{origtime}-{match.group(1)}",
                caller_num=num, caller_name=caller, origtime=origtime,
                duration=int(meta.get("duration", "0") or 0),
            ))
        return sorted(found, key=lambda m: (m.origtime, m.number))

    def find(self, mailbox: str, msg_id: str, folder: str = "INBOX") -> Message | None:
        return next((m for m in self.messages(mailbox, folder) if m.msg_id == msg_id), None)

    def move_to_old(self, mailbox: str, msg_id: str) -> Message | None:
        """Move one INBOX message to Old (by msg_id: numbers shift as others move); None if gone."""
        inbox, old = self.folder(mailbox, "INBOX"), self.folder(mailbox, "Old")
        old.mkdir(parents=True, exist_ok=True)
        with _DirLock(inbox), _DirLock(old):
            message = self.find(mailbox, msg_id)
            if message is None:
                return None
            target = self._next_number(old)
            for path in inbox.glob(f"msg{message.number:04d}.*"):
                path.rename(old / f"msg{target:04d}{path.suffix}")
            self._renumber(inbox)
        return Message(**{**message.__dict__, "folder": "Old", "number": target})

    @staticmethod
    def _next_number(directory: Path) -> int:
        numbers = [int(m.group(1)) for m in (_MSG.match(n) for n in os.listdir(directory)) if m]
        return max(numbers) + 1 if numbers else 0

    @staticmethod
    def _renumber(directory: Path) -> None:
        numbers = sorted({int(p.name[3:7]) for p in directory.glob("msg[0-9][0-9][0-9][0-9].*")})
        for new, old in enumerate(numbers):
            if new != old:
                for path in directory.glob(f"msg{old:04d}.*"):
                    path.rename(directory / f"msg{new:04d}{path.suffix}")


class _DirLock:
    """app_voicemail's lock: a temporary file hard-linked to `.lock`; wait up to 5 s for it."""

    def __init__(self, directory: Path, timeout: float = 5.0) -> None:
        self.directory, self.timeout = directory, timeout
        self.temp = directory / f".lock-pbx-bridge-{os.getpid():08x}"
        self.lock = directory / ".lock"

    def __enter__(self) -> "_DirLock":
        self.directory.mkdir(parents=True, exist_ok=True)
        self.temp.touch()
        deadline = time.monotonic() + self.timeout
        try:
            while True:
                try:
                    os.link(self.temp, self.lock)
                    return self
                except FileExistsError:
                    if time.monotonic() > deadline:
                        raise SpoolLockTimeout(f"{self.lock} held for more than {self.timeout} s") from None
                    time.sleep(0.01)
        finally:
            self.temp.unlink(missing_ok=True)

    def __exit__(self, *exc: object) -> None:
        self.lock.unlink(missing_ok=True)
