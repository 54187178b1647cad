"""A local SMTP outbox: a real SMTP server on 127.0.0.1 that files every message it
receives as an .eml file in a folder. The demo sends its alerts there when no mail
server is configured, so they can be read without one."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

from aiosmtpd.controller import Controller

from include import alerts


class _FileEverything:
    def __init__(self, folder: Path):
        self.folder = folder

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        name = f"{time.strftime('%Y%m%dT%H%M%S')}-{time.monotonic_ns()}.eml"
        (self.folder / name).write_bytes(envelope.original_content or envelope.content)
        return "250 filed"


def start(folder: Path) -> Controller:
    """Start the outbox and point the alert mailer at it (FPWH_SMTP_URL)."""
    folder.mkdir(parents=True, exist_ok=True)
    with socket.socket() as probe:  # a free port (aiosmtpd checks its server by connecting to it)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(_FileEverything(folder), hostname="127.0.0.1", port=port)
    controller.start()
    os.environ[alerts.SMTP_URL_ENV] = f"smtp://127.0.0.1:{port}"
    return controller
