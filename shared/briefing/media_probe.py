"""Read duration and stream facts of a media file.

The imageio-ffmpeg wheel ships ffmpeg but no ffprobe, so this runs `ffmpeg -i FILE`
(which prints the input description to stderr and exits non-zero because no output
is given) and parses that description.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

StreamKind = Literal["video", "audio", "subtitle", "data", "attachment"]

_DURATION = re.compile(r"^\s*Duration:\s*(?:(\d+):(\d{2}):(\d{2}(?:\.\d+)?)|N/A)", re.MULTILINE)
# e.g. "  Stream #0:1[0x2](und): Audio: aac (LC) (mp4a / 0x6134706D), 22050 Hz, ..."
_STREAM = re.compile(
    r"^\s*Stream #0:(\d+)(?:\[[^\]]*\])?(?:\([^)]*\))?:\s*(Video|Audio|Subtitle|Data|Attachment):\s*(.*)$",
    re.MULTILINE,
)
_SIZE = re.compile(r"^(\d+)x(\d+)\b")
_STDERR_TAIL_CHARS = 1500


class StreamInfo(BaseModel):
    model_config = ConfigDict(frozen=True)

    index: int
    kind: StreamKind
    codec: str
    width: int | None = None  # video only
    height: int | None = None  # video only


class MediaInfo(BaseModel):
    model_config = ConfigDict(frozen=True)

    path: Path
    duration_seconds: float | None  # None when the container states no duration (e.g. a PNG)
    streams: list[StreamInfo]

    def of_kind(self, kind: StreamKind) -> list[StreamInfo]:
        return [stream for stream in self.streams if stream.kind == kind]


class MediaProbeError(Exception):
    """The file is missing, unreadable or not media that ffmpeg understands."""


def _default_ffmpeg() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def _split_top_level(description: str) -> list[str]:
    """Split on commas outside parentheses: 'yuv420p(tv, bt709)' is one field."""
    parts: list[str] = []
    depth = 0
    current: list[str] = []
    for ch in description:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth = max(0, depth - 1)
        if ch == "," and depth == 0:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
    parts.append("".join(current).strip())
    return parts


def _parse_stream(index: str, kind: str, description: str) -> StreamInfo:
    fields = _split_top_level(description)
    codec = fields[0].split()[0] if fields[0] else "unknown"
    width = height = None
    if kind == "Video":
        # The size is its own field ("1280x720 [SAR 1:1 DAR 16:9]"); searching the whole
        # line would also match codec tags such as "0x31637661".
        for field in fields[1:]:
            size = _SIZE.match(field)
            if size:
                width, height = int(size.group(1)), int(size.group(2))
                break
    return StreamInfo(index=int(index), kind=kind.lower(), codec=codec, width=width, height=height)  # type: ignore[arg-type]


def parse_ffmpeg_description(path: Path, stderr: str) -> MediaInfo:
    """Parse the `Input #0` block of `ffmpeg -i` output."""
    start = stderr.find("Input #0")
    if start < 0:
        tail = stderr.strip()[-_STDERR_TAIL_CHARS:]
        raise MediaProbeError(f"ffmpeg cannot read {path} as media: {tail or 'no description printed'}")
    block = stderr[start:]
    next_input = block.find("Input #1")
    if next_input > 0:
        block = block[:next_input]

    duration: float | None = None
    match = _DURATION.search(block)
    if match and match.group(1) is not None:
        hours, minutes, seconds = match.groups()
        duration = int(hours) * 3600 + int(minutes) * 60 + float(seconds)

    streams = [_parse_stream(*found.groups()) for found in _STREAM.finditer(block)]
    return MediaInfo(path=path, duration_seconds=duration, streams=streams)


def probe(path: Path | str, *, ffmpeg_exe: str | None = None, timeout_seconds: float = 60.0) -> MediaInfo:
    """Describe a media file: duration and its streams (index, kind, codec, video size)."""
    path = Path(path)
    if not path.exists():
        raise MediaProbeError(f"media file not found: {path}")
    if not path.is_file():
        raise MediaProbeError(f"not a regular file: {path}")
    if not os.access(path, os.R_OK):
        raise MediaProbeError(f"media file is not readable: {path}")

    # "file:" stops ffmpeg from reading a name such as "x:y.mp4" as a protocol.
    command = [ffmpeg_exe or _default_ffmpeg(), "-hide_banner", "-nostdin", "-i", f"file:{path.resolve()}"]
    try:
        completed = subprocess.run(command, capture_output=True, text=True, errors="replace", timeout=timeout_seconds)
    except subprocess.TimeoutExpired as exc:
        raise MediaProbeError(f"ffmpeg timed out after {timeout_seconds:g}s reading {path}") from exc
    except OSError as exc:
        raise MediaProbeError(f"cannot run ffmpeg ({command[0]}): {exc}") from exc
    return parse_ffmpeg_description(path, completed.stderr)
