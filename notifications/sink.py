"""A development mail sink: an SMTP server on loopback that stores each message as an .eml file."""

from __future__ import annotations

import itertools
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from aiosmtpd.controller import Controller

from lifecycle.errors import InvalidInput
from lifecycle.validation import escape_line

HOST = "127.0.0.1"


def free_port() -> int:
    """aiosmtpd's Controller cannot bind port 0 itself: ask the OS for a free one first."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


class SaveToDirectory:
    """aiosmtpd handler: every accepted message becomes one .eml file (written whole, then renamed)."""

    def __init__(self, directory: Path):
        self.directory = directory
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except FileExistsError:  # mkdir(exist_ok=True) raises it only for something that is not a folder
            raise InvalidInput(
                f"cannot use {escape_line(directory)} as a mail folder: it is a file"
            ) from None
        except OSError as exc:  # a file on the way (NotADirectoryError), no permission, read-only...
            reason = exc.strerror or type(exc).__name__
            raise InvalidInput(f"cannot use {escape_line(directory)} as a mail folder: {reason}") from None
        self._counter = itertools.count(1)

    async def handle_DATA(self, server, session, envelope) -> str:  # type: ignore[no-untyped-def]  # noqa: N802
        name = f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-{next(self._counter):06d}.eml"
        temporary = self.directory / f".{name}.tmp"
        temporary.write_bytes(envelope.original_content or envelope.content)
        temporary.replace(self.directory / name)
        return "250 Message accepted for delivery"


@contextmanager
def running_sink(directory: Path, port: int | None = None) -> Iterator[tuple[str, int]]:
    """Run the sink for the duration of a `with` block; yields (host, port)."""
    chosen = port or free_port()
    controller = Controller(SaveToDirectory(directory), hostname=HOST, port=chosen)
    controller.start()
    try:
        yield HOST, chosen
    finally:
        controller.stop()
