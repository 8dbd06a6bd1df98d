"""Azurite, the Azure Storage emulator, as a child process on a free loopback port.

`make azurite` installs the pinned npm package under tests/azurite/ (its package-lock.json
fixes the whole tree). `running_azurite()` starts its blob service with a throwaway data
folder, waits until it says where it listens, and stops it afterwards. The connection string
it hands back is the development one with `DevelopmentStorageProxyUri`, so the app's code takes
the same path as with `AzureWebJobsStorage=UseDevelopmentStorage=true`, only on another port.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
AZURITE_BLOB = REPO / "tests" / "azurite" / "node_modules" / ".bin" / "azurite-blob"
_LISTENING = re.compile(r"successfully listens on (https?://127\.0\.0\.1:(\d+))")


class AzuriteError(RuntimeError):
    retryable = False


@dataclass(frozen=True)
class Azurite:
    blob_origin: str  # http://127.0.0.1:<port>
    location: Path
    pid: int

    @property
    def connection_string(self) -> str:
        return f"UseDevelopmentStorage=true;DevelopmentStorageProxyUri={self.blob_origin}"


@contextmanager
def running_azurite(executable: Path = AZURITE_BLOB, start_timeout: float = 60.0,
                    extra_args: tuple[str, ...] = ()) -> Iterator[Azurite]:
    """`extra_args` adds Azurite options, e.g. `--oauth basic --cert ... --key ...` for sign-in with tokens."""
    if not executable.is_file():
        raise AzuriteError(f"{executable} is missing: run `make azurite` (npm ci in tests/azurite)")
    with tempfile.TemporaryDirectory(prefix="azurite-") as location:
        process = subprocess.Popen(
            [str(executable), "--blobHost", "127.0.0.1", "--blobPort", "0", "--location", location,
             "--skipApiVersionCheck", "--disableProductStyleUrl", "--loose", *extra_args],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
        )  # fmt: skip
        lines: list[str] = []
        found = threading.Event()
        origin: list[str] = []

        def read_output() -> None:
            # Keep draining the pipe for the process's whole life, so it never blocks on a full pipe.
            for line in process.stdout:
                if len(lines) < 200:
                    lines.append(line.rstrip())
                match = _LISTENING.search(line)
                if match and not origin:
                    origin.append(match.group(1))
                    found.set()
            found.set()

        reader = threading.Thread(target=read_output, name="azurite-output", daemon=True)
        reader.start()
        try:
            deadline = time.monotonic() + start_timeout
            while not found.wait(0.1):
                if time.monotonic() > deadline:
                    raise AzuriteError(f"Azurite did not start within {start_timeout:.0f} s: {lines[-5:]}")
            if not origin:
                raise AzuriteError(f"Azurite exited ({process.poll()}): {lines[-5:]}")
            yield Azurite(blob_origin=origin[0], location=Path(location), pid=process.pid)
        finally:
            if process.poll() is None:
                # Azurite closes its servers on Ctrl-C but its node process lingers: end it once closed.
                os.killpg(process.pid, signal.SIGINT)
                deadline = time.monotonic() + 5
                while time.monotonic() < deadline and not any("successfully closed" in line for line in lines):
                    time.sleep(0.05)
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
            reader.join(timeout=5)
