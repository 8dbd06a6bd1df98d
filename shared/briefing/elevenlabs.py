"""The narration from ElevenLabs text-to-speech (REST, through httpx).

    POST {base}/v1/text-to-speech/{voice_id}?output_format=mp3_44100_128
    xi-api-key: <ELEVENLABS_API_KEY>
    {"text", "model_id", "voice_settings", "previous_text", "next_text"}

The text is split at sentence (then word) boundaries under the model's per-request character
limit; each part is sent with its neighbours as `previous_text` / `next_text`, so the voice keeps
its intonation across the joins, and the MP3 parts are joined by ffmpeg's concat demuxer (a byte
join would keep the first part's Xing header, which states the first part's length only).

429 (`too_many_concurrent_requests`, `system_busy`) and 5xx are retried with exponential backoff,
or after `retry-after` when the server sends one; the last failure raises a retryable
SpeechError, so Durable retries the step later. 401/404/400/422 are permanent. The
`character-cost` header of each answer is recorded as the call's cost in "characters".
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from shared.retry_after import retry_after_seconds
from shared.briefing.media_probe import MediaProbeError, probe
from shared.briefing.speech import SpeechError, SpeechResult, _clean_text
from shared.telemetry import external_call

# Per-request character limits (ElevenLabs models page).
MODEL_CHARACTER_LIMITS = {
    "eleven_v3": 3_000,
    "eleven_flash_v2_5": 40_000,
    "eleven_flash_v2": 30_000,
    "eleven_turbo_v2_5": 40_000,
    "eleven_turbo_v2": 30_000,
    "eleven_multilingual_v2": 10_000,
    "eleven_multilingual_v1": 10_000,
}
UNKNOWN_MODEL_LIMIT = 3_000  # the smallest documented limit: safe for a model not listed
# The seed's voice settings.
VOICE_SETTINGS = {"stability": 0.5, "similarity_boost": 0.5, "style": 0.0, "use_speaker_boost": True}
CONTEXT_CHARS = 300  # previous_text / next_text: enough for intonation, small on the wire
MAX_BACKOFF_SECONDS = 30.0
RETRYABLE_STATUS = {429, 500, 502, 503, 504}

_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")
_FORMAT = re.compile(r"^mp3_(\d+)_(\d+)$")


def character_limit(model_id: str) -> int:
    return MODEL_CHARACTER_LIMITS.get(model_id, UNKNOWN_MODEL_LIMIT)


def split_text(text: str, limit: int) -> list[str]:
    """Parts of at most `limit` characters, cut between sentences, else between words."""
    if limit < 2:
        raise ValueError("limit must be at least 2")
    parts: list[str] = []
    current = ""

    def add(piece: str) -> None:
        nonlocal current
        candidate = f"{current} {piece}" if current else piece
        if len(candidate) <= limit:
            current = candidate
        else:
            parts.append(current)
            current = piece

    for sentence in _SENTENCE_END.split(text.strip()):
        if len(sentence) <= limit:
            add(sentence)
            continue
        # A sentence longer than the limit starts a part and is cut between words
        # (a word longer than the limit, between characters).
        if current:
            parts.append(current)
            current = ""
        for word in sentence.split():
            while len(word) > limit:
                add(word[:limit])
                word = word[limit:]
            add(word)
    if current:
        parts.append(current)
    return parts


def _detail(response: httpx.Response) -> str:
    """ElevenLabs' error body: {"detail": {"status", "message"}} or a 422 list of field errors."""
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        return f"HTTP {response.status_code}"
    if isinstance(detail, dict):
        return str(detail.get("status") or detail.get("message") or response.status_code)[:120]
    if isinstance(detail, list) and detail:
        first = detail[0] if isinstance(detail[0], dict) else {}
        return f"{'.'.join(map(str, first.get('loc', [])))}: {first.get('msg', '')}"[:160]
    return f"HTTP {response.status_code}"


class ElevenLabsSpeech:
    provider_name = "elevenlabs"

    def __init__(self, api_key: str, *, voice_id: str, model_id: str = "eleven_multilingual_v2",
                 output_format: str = "mp3_44100_128", base_url: str = "https://api.elevenlabs.io",
                 max_retries: int = 4, timeout_seconds: float = 120.0, character_limit_override: int | None = None,
                 transport: httpx.BaseTransport | None = None, sleep: Callable[[float], None] = time.sleep,
                 ffmpeg_exe: str | None = None) -> None:
        match = _FORMAT.match(output_format)
        if not match:
            raise ValueError(f"output_format must be an MP3 format such as mp3_44100_128, not {output_format!r}")
        self.voice_id, self.model_id, self.output_format = voice_id, model_id, output_format
        self.sample_rate = int(match.group(1))
        self.max_retries = max_retries
        self.limit = character_limit_override or character_limit(model_id)
        self._sleep = sleep
        self._ffmpeg = ffmpeg_exe
        self._client = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout_seconds, transport=transport,
                                    headers={"xi-api-key": api_key, "accept": "audio/mpeg"})

    def close(self) -> None:
        self._client.close()

    def synthesize(self, text: str, out_path: Path | str) -> SpeechResult:
        out_path = Path(out_path)
        spoken = " ".join(_clean_text(text).split())
        if not spoken:
            raise SpeechError("nothing to synthesize: the text is empty")
        parts = split_text(spoken, self.limit)
        out_path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="elevenlabs-", dir=out_path.parent) as work:
            files = []
            for index, part in enumerate(parts):
                audio = self._speak(part, previous=" ".join(parts[:index])[-CONTEXT_CHARS:],
                                    following=" ".join(parts[index + 1:])[:CONTEXT_CHARS])
                path = Path(work) / f"part{index:03d}.mp3"
                path.write_bytes(audio)
                files.append(path)
            joined = Path(work) / "joined.mp3"
            if len(files) == 1:
                files[0].replace(joined)
            else:
                self._join(files, joined)
            try:
                info = probe(joined, ffmpeg_exe=self._ffmpeg)
            except MediaProbeError as exc:
                raise SpeechError(f"ElevenLabs returned audio that ffmpeg cannot read: {exc}", retryable=True) from exc
            if not info.of_kind("audio") or not info.duration_seconds:
                raise SpeechError("ElevenLabs returned no audio stream", retryable=True)
            os.replace(joined, out_path)
        return SpeechResult(path=out_path, duration_seconds=info.duration_seconds, characters=len(spoken),
                            provider=self.provider_name, voice=self.voice_id, sample_rate=self.sample_rate)

    def _speak(self, text: str, previous: str, following: str) -> bytes:
        body: dict = {"text": text, "model_id": self.model_id, "voice_settings": VOICE_SETTINGS}
        if previous:
            body["previous_text"] = previous
        if following:
            body["next_text"] = following
        url = f"/v1/text-to-speech/{self.voice_id}"
        for attempt in range(self.max_retries + 1):
            with external_call("elevenlabs", "text_to_speech", model=self.model_id, attempt=attempt + 1) as call:
                try:
                    response = self._client.post(url, params={"output_format": self.output_format}, json=body)
                except httpx.TransportError as exc:
                    call.set_outcome("error")
                    if attempt == self.max_retries:
                        raise SpeechError(f"ElevenLabs could not be reached: {type(exc).__name__}",
                                          retryable=True) from exc
                    self._sleep(self._backoff(attempt, None))
                    continue
                if response.status_code == 200:
                    cost = response.headers.get("character-cost")
                    call.add_cost("characters", float(cost) if cost else len(text))
                    call.set_attribute("request_id", response.headers.get("request-id", ""))
                    if not response.content:
                        raise SpeechError("ElevenLabs answered 200 with no audio", retryable=True)
                    return response.content
                detail = _detail(response)
                if response.status_code in RETRYABLE_STATUS:
                    call.set_outcome("throttled" if response.status_code == 429 else "error")
                    if attempt == self.max_retries:
                        raise SpeechError(f"ElevenLabs answered {response.status_code} ({detail}) "
                                          f"after {self.max_retries} retries", retryable=True)
                    wait = self._backoff(attempt, retry_after_seconds(response.headers))
                else:
                    call.set_outcome("error")
                    raise SpeechError(f"ElevenLabs refused the request: {response.status_code} ({detail})")
            self._sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def _backoff(attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, MAX_BACKOFF_SECONDS)
        return min(1.0 * 2 ** attempt, MAX_BACKOFF_SECONDS)

    def _join(self, files: list[Path], out: Path) -> None:
        if self._ffmpeg is None:
            import imageio_ffmpeg

            self._ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
        listing = out.with_suffix(".txt")
        listing.write_text("ffconcat version 1.0\n" + "".join(f"file '{f.name}'\n" for f in files))
        result = subprocess.run([self._ffmpeg, "-hide_banner", "-loglevel", "error", "-y", "-f", "concat",
                                 "-safe", "0", "-i", str(listing), "-c", "copy", str(out)],
                                capture_output=True, text=True, timeout=120, check=False)
        if result.returncode != 0:
            raise SpeechError(f"joining the narration parts failed: {result.stderr[-500:]}")
