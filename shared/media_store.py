"""Where a run's media (narration, video, briefing page) is kept.

Locally a folder under LOCAL_DATA_DIR; every file sits at `<shop>/<run_id>/<name>`, so the
briefing page can link its video by a relative name. Writes go to a temporary name and are
renamed into place, so a reader never sees half a file.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Protocol

from shared.settings import get_settings

_SAFE_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,199}$")


class MediaStoreError(RuntimeError):
    retryable = False


class MediaStore(Protocol):
    def put_file(self, shop: str, run_id: str, name: str, source: Path) -> str: ...
    def put_bytes(self, shop: str, run_id: str, name: str, data: bytes) -> str: ...
    def read_bytes(self, uri: str) -> bytes: ...
    def local_path(self, uri: str) -> Path: ...


def _check_part(value: str, what: str) -> str:
    if not _SAFE_PART.fullmatch(value) or ".." in value:
        raise MediaStoreError(f"{what} is not a safe path component: {value[:60]!r}")
    return value


class LocalMediaStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, shop: str, run_id: str, name: str) -> Path:
        return self.root / _check_part(shop, "shop") / _check_part(run_id, "run id") / _check_part(name, "file name")

    def _uri(self, shop: str, run_id: str, name: str) -> str:
        return f"{shop}/{run_id}/{name}"

    def put_file(self, shop: str, run_id: str, name: str, source: Path) -> str:
        target = self._path(shop, run_id, name)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{name}.")
        os.close(fd)
        shutil.copyfile(source, temp)
        os.replace(temp, target)
        return self._uri(shop, run_id, name)

    def put_bytes(self, shop: str, run_id: str, name: str, data: bytes) -> str:
        target = self._path(shop, run_id, name)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{name}.")
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(temp, target)
        return self._uri(shop, run_id, name)

    def local_path(self, uri: str) -> Path:
        parts = uri.split("/")
        if len(parts) != 3:
            raise MediaStoreError(f"not a media uri: {uri[:80]!r}")
        return self._path(*parts)

    def read_bytes(self, uri: str) -> bytes:
        path = self.local_path(uri)
        if not path.is_file():
            raise MediaStoreError(f"no media at {uri}")
        return path.read_bytes()


def media_store() -> MediaStore:
    return LocalMediaStore(get_settings().media_dir)
