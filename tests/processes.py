"""Helpers for tests that run the App's processes for real."""

from __future__ import annotations

import socket
import subprocess
import threading


def free_port() -> int:
    """A port nothing listens on now, for a server a test starts."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Output:
    """A process's output, read by a thread so that a test can wait for a line."""

    def __init__(self, process: subprocess.Popen) -> None:
        self.lines: list[str] = []
        self._changed = threading.Condition()
        threading.Thread(target=self._read, args=(process.stdout,), daemon=True).start()

    def _read(self, stream) -> None:
        for line in stream:
            with self._changed:
                self.lines.append(line.decode(errors="replace"))
                self._changed.notify_all()

    def wait_for(self, text: str, timeout: float = 60) -> None:
        with self._changed:
            if not self._changed.wait_for(lambda: text in self.text, timeout):
                raise AssertionError(f"never printed {text!r}:\n{self.text}")

    @property
    def text(self) -> str:
        return "".join(self.lines)
