"""A local SMTP outbox: a real SMTP server on 127.0.0.1 that files every message it
receives as an .eml file in a folder. The demo sends its alerts there when no mail
server is configured, so they can be read without one; the tests read them there."""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from pathlib import Path

from aiosmtpd.controller import Controller


class _FileEverything:
    def __init__(self, folder: Path):
        self.folder = folder

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        name = f"{time.strftime('%Y%m%dT%H%M%S')}-{time.monotonic_ns()}.eml"
        (self.folder / name).write_bytes(envelope.original_content or envelope.content)
        return "250 filed"


@dataclass(frozen=True)
class Outbox:
    controller: Controller
    url: str  # smtp://127.0.0.1:<port>, for FPWH_SMTP_URL

    def stop(self) -> None:
        self.controller.stop()


def start(folder: Path) -> Outbox:
    """Start the outbox on a free port; point the alert mailer at its `url`."""
    folder.mkdir(parents=True, exist_ok=True)
    with socket.socket() as probe:  # a free port (aiosmtpd checks its server by connecting to it)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(_FileEverything(folder), hostname="127.0.0.1", port=port)
    controller.start()
    return Outbox(controller, f"smtp://127.0.0.1:{port}")
