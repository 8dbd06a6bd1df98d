"""Offline briefing video: Pillow slides with burned-in captions, encoded by ffmpeg.

`VideoRenderer` is the seam: `LocalVideoRenderer` implements it without any cloud
service; a hosted renderer (VEED on fal.ai) can implement it later with the same
slides and result type. The slide models and artwork live in `shared.briefing.slides`,
caption chunking and timing in `shared.briefing.captions`; this module holds the
result type and encoding.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import uuid
import wave
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

from shared.briefing.captions import caption_durations, slide_durations, split_captions
from shared.briefing.media_probe import MediaProbeError, probe
from shared.briefing.slides import HEIGHT, WIDTH, Slide, draw_caption, render_slide_image


class VideoResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    path: Path
    duration_seconds: float
    width: int
    height: int
    video_codec: str
    audio_codec: str
    slide_count: int


class VideoError(Exception):
    """Rendering failed; `retryable` says whether trying again may succeed."""

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


@runtime_checkable
class VideoRenderer(Protocol):
    def render(self, slides: Sequence[Slide], audio_path: Path, out_path: Path) -> VideoResult:
        """Make a video of `slides` narrated by `audio_path`, published atomically at `out_path`."""
        ...


# =============================================================================
# Encoding
# =============================================================================

_STDERR_TAIL_CHARS = 2000
_TRANSIENT_FFMPEG_ERRORS = ("No space left on device", "Cannot allocate memory", "Resource temporarily unavailable")


def _audio_duration(audio_path: Path, ffmpeg_exe: str) -> float:
    """Exact length for WAV (from its header), container duration for anything else."""
    try:
        with wave.open(str(audio_path), "rb") as wav:
            frames, rate = wav.getnframes(), wav.getframerate()
        if frames > 0 and rate > 0:
            return frames / rate
    except (wave.Error, EOFError):
        pass
    try:
        info = probe(audio_path, ffmpeg_exe=ffmpeg_exe)
    except MediaProbeError as exc:
        raise VideoError(f"cannot read narration audio: {exc}") from exc
    if not info.of_kind("audio") or not info.duration_seconds:
        raise VideoError(f"narration {audio_path} has no audio stream with a duration")
    return info.duration_seconds


def _concat_list(frames: Sequence[tuple[str, float]]) -> str:
    lines = ["ffconcat version 1.0"]
    for name, seconds in frames:
        lines += [f"file '{name}'", f"duration {seconds:.6f}"]
    # The concat demuxer ignores the last entry's duration unless the file is repeated.
    lines.append(f"file '{frames[-1][0]}'")
    return "\n".join(lines) + "\n"


class LocalVideoRenderer:
    """Slides drawn with Pillow and encoded with the ffmpeg shipped in imageio-ffmpeg."""

    def __init__(
        self,
        *,
        fps: int = 10,
        crf: int = 20,
        preset: str = "veryfast",
        audio_bitrate: str = "128k",
        caption_max_words: int = 14,
        brand_label: str = "Retail AI Advisor",
        ffmpeg_exe: str | None = None,
        timeout_seconds: float = 600.0,
    ) -> None:
        if not 1 <= fps <= 60:
            raise ValueError("fps must be between 1 and 60")
        if not 0 <= crf <= 51:
            raise ValueError("crf must be between 0 and 51")
        self.fps = fps
        self.crf = crf
        self.preset = preset
        self.audio_bitrate = audio_bitrate
        self.caption_max_words = caption_max_words
        self.brand_label = brand_label
        self.timeout_seconds = timeout_seconds
        if ffmpeg_exe is None:
            import imageio_ffmpeg

            ffmpeg_exe = imageio_ffmpeg.get_ffmpeg_exe()
        self.ffmpeg_exe = ffmpeg_exe

    def render(self, slides: Sequence[Slide], audio_path: Path | str, out_path: Path | str) -> VideoResult:
        audio_path, out_path = Path(audio_path), Path(out_path)
        if not slides:
            raise VideoError("no slides to render")
        if not audio_path.is_file():
            raise VideoError(f"narration audio not found: {audio_path}")
        total = _audio_duration(audio_path, self.ffmpeg_exe)
        out_path.parent.mkdir(parents=True, exist_ok=True)

        with tempfile.TemporaryDirectory(prefix="briefing-video-") as work:
            work_dir = Path(work)
            frames = self._write_frames(slides, total, work_dir)
            concat_file = work_dir / "frames.ffconcat"
            concat_file.write_text(_concat_list(frames), encoding="utf-8")
            # Written beside the target so the final os.replace is atomic on one filesystem.
            partial = out_path.with_name(f".{out_path.name}.{uuid.uuid4().hex}.partial")
            try:
                self._encode(concat_file, audio_path, total, partial)
                result = self._verify(partial, out_path, len(slides))
                os.replace(partial, out_path)
            finally:
                partial.unlink(missing_ok=True)
        return result

    def _write_frames(self, slides: Sequence[Slide], total: float, work_dir: Path) -> list[tuple[str, float]]:
        """One PNG per (slide, caption chunk), with how long it shows."""
        frames: list[tuple[str, float]] = []
        for index, (slide, seconds) in enumerate(zip(slides, slide_durations(slides, total))):
            base = render_slide_image(slide, index=index, count=len(slides), brand_label=self.brand_label)
            chunks = split_captions(slide.narration, max_words=self.caption_max_words)
            for part, (chunk, chunk_seconds) in enumerate(zip(chunks, caption_durations(chunks, seconds))):
                frame = base.copy()
                draw_caption(frame, chunk)
                name = f"slide{index:02d}_{part:03d}.png"
                frame.save(work_dir / name, compress_level=1)  # speed over size: the files are temporary
                frames.append((name, chunk_seconds))
        return frames

    def _encode(self, concat_file: Path, audio_path: Path, total: float, out_file: Path) -> None:
        command = [
            self.ffmpeg_exe, "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
            "-f", "concat", "-i", str(concat_file),
            "-i", f"file:{audio_path.resolve()}",
            "-map", "0:v:0", "-map", "1:a:0",
            "-vf", f"fps={self.fps},format=yuv420p",
            "-c:v", "libx264", "-preset", self.preset, "-tune", "stillimage", "-crf", str(self.crf),
            "-g", str(self.fps * 2),  # a keyframe every 2 s keeps seeking snappy
            "-c:a", "aac", "-b:a", self.audio_bitrate, "-ar", "48000",
            "-t", f"{total:.6f}",
            "-movflags", "+faststart",
            "-f", "mp4", str(out_file),
        ]  # fmt: skip
        try:
            completed = subprocess.run(
                command, capture_output=True, text=True, errors="replace", timeout=self.timeout_seconds
            )
        except subprocess.TimeoutExpired as exc:
            raise VideoError(f"ffmpeg timed out after {self.timeout_seconds:g}s", retryable=True) from exc
        except OSError as exc:
            raise VideoError(f"cannot run ffmpeg ({self.ffmpeg_exe}): {exc}") from exc
        if completed.returncode != 0:
            tail = completed.stderr.strip()[-_STDERR_TAIL_CHARS:]
            # Killed by a signal (e.g. the OOM killer) or out of a resource: worth another try.
            transient = completed.returncode < 0 or any(marker in tail for marker in _TRANSIENT_FFMPEG_ERRORS)
            raise VideoError(f"ffmpeg failed with exit code {completed.returncode}: {tail}", retryable=transient)

    def _verify(self, encoded: Path, out_path: Path, slide_count: int) -> VideoResult:
        try:
            info = probe(encoded, ffmpeg_exe=self.ffmpeg_exe)
        except MediaProbeError as exc:
            raise VideoError(f"ffmpeg wrote an unreadable file: {exc}") from exc
        video, audio = info.of_kind("video"), info.of_kind("audio")
        if len(video) != 1 or len(audio) != 1 or info.duration_seconds is None:
            raise VideoError(f"unexpected streams in encoded video: {info.streams}")
        return VideoResult(
            path=out_path,
            duration_seconds=info.duration_seconds,
            width=video[0].width or WIDTH,
            height=video[0].height or HEIGHT,
            video_codec=video[0].codec,
            audio_codec=audio[0].codec,
            slide_count=slide_count,
        )
