"""A loopback stand-in for ElevenLabs text-to-speech that answers with real MP3 speech.

    with ElevenLabsStandIn(api_key="k") as eleven:
        settings.elevenlabs_base_url = eleven.base_url

`POST /v1/text-to-speech/{voice_id}?output_format=mp3_<rate>_<kbps>` with `xi-api-key` and a
JSON body {text, model_id, voice_settings, previous_text?, next_text?}. The audio is spoken by
espeak-ng and encoded to MP3 by the imageio-ffmpeg binary at the requested rate and bitrate,
so what comes back plays, probes and narrates a video like the real thing. Headers as
ElevenLabs sends them: `character-cost` (characters billed), `request-id`, `history-item-id`.

Errors in ElevenLabs' shapes: 401 `{"detail": {"status": "invalid_api_key", ...}}`, 404
`voice_not_found`, 400 `max_character_limit_exceeded` (per model limits) and
`model_not_found`, 422 FastAPI-style field errors, and on demand (`busy_next = n`) 429 with
`detail.status` `too_many_concurrent_requests` (or `system_busy`), optionally with a
`retry-after` header (`retry_after_seconds`).
"""

from __future__ import annotations

import json
import re
import secrets
import subprocess
import tempfile
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from shared.briefing.elevenlabs import MODEL_CHARACTER_LIMITS
from shared.briefing.speech import EspeakSpeech
from shared.local.background_server import LoopbackStandIn

_PATH = re.compile(r"^/v1/text-to-speech/([A-Za-z0-9]+)$")
_FORMAT = re.compile(r"^mp3_(\d+)_(\d+)$")
DEFAULT_VOICES = ("21m00Tcm4TlvDq8ikWAM",)


@dataclass
class TtsRequest:
    voice_id: str
    query: dict[str, str]
    body: dict
    authorised: bool


@dataclass
class ElevenLabsStandIn(LoopbackStandIn):

    thread_name = "elevenlabs-standin"
    api_key: str
    voices: tuple[str, ...] = DEFAULT_VOICES
    busy_next: int = 0
    busy_status: str = "too_many_concurrent_requests"
    retry_after_seconds: float | None = None
    requests: list[TtsRequest] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def characters_billed(self) -> int:
        return sum(len(r.body.get("text", "")) for r in self.requests if r.authorised and r.body.get("_served"))

    def _take_busy(self) -> bool:
        with self._lock:
            if self.busy_next > 0:
                self.busy_next -= 1
                return True
            return False


def speak_mp3(text: str, sample_rate: int, kbps: int) -> bytes:
    """Real speech as MP3 bytes: espeak-ng to WAV, then libmp3lame through imageio-ffmpeg."""
    import imageio_ffmpeg

    with tempfile.TemporaryDirectory(prefix="elevenlabs-standin-") as work:
        wav, mp3 = Path(work) / "speech.wav", Path(work) / "speech.mp3"
        EspeakSpeech().synthesize(text, wav)
        subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-i", str(wav),
                        "-ar", str(sample_rate), "-ac", "1", "-c:a", "libmp3lame", "-b:a", f"{kbps}k", str(mp3)],
                       check=True, capture_output=True, timeout=120)
        return mp3.read_bytes()


class _Handler(BaseHTTPRequestHandler):
    owner: ElevenLabsStandIn
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:
        pass

    def _json(self, status: int, payload: dict, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _detail(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        self._json(status, {"detail": {"status": code, "message": message}}, headers)

    def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        match = _PATH.match(url.path)
        if not match:
            return self._json(404, {"detail": "Not Found"})
        key = self.headers.get("xi-api-key") or ""
        authorised = secrets.compare_digest(key.encode(), self.owner.api_key.encode())
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            body = None
        record = TtsRequest(match.group(1), query, body if isinstance(body, dict) else {}, authorised)
        with self.owner._lock:
            self.owner.requests.append(record)
        if not authorised:
            return self._detail(401, "invalid_api_key", "Invalid API key")
        if not isinstance(body, dict) or not isinstance(body.get("text"), str) or not body["text"].strip():
            return self._json(422, {"detail": [{"loc": ["body", "text"], "msg": "field required",
                                                 "type": "value_error.missing"}]})
        if record.voice_id not in self.owner.voices:
            return self._detail(404, "voice_not_found", f"A voice with the voice_id {record.voice_id} was not found.")
        model_id = body.get("model_id", "eleven_multilingual_v2")
        if model_id not in MODEL_CHARACTER_LIMITS:
            return self._detail(400, "model_not_found", f"Model {model_id} does not exist.")
        fmt = _FORMAT.match(query.get("output_format", "mp3_44100_128"))
        if not fmt:
            return self._detail(400, "invalid_output_format", "This stand-in serves MP3 formats only.")
        limit = MODEL_CHARACTER_LIMITS[model_id]
        if len(body["text"]) > limit:
            return self._detail(400, "max_character_limit_exceeded",
                                f"Text is {len(body['text'])} characters; the limit for {model_id} is {limit}.")
        if self.owner._take_busy():
            headers = {}
            if self.owner.retry_after_seconds is not None:
                headers["retry-after"] = f"{self.owner.retry_after_seconds:g}"
            return self._detail(429, self.owner.busy_status,
                                "Too many concurrent requests for your plan; try again shortly.", headers)
        audio = speak_mp3(body["text"], int(fmt.group(1)), int(fmt.group(2)))
        record.body["_served"] = True
        self.send_response(200)
        self.send_header("Content-Type", "audio/mpeg")
        self.send_header("Content-Length", str(len(audio)))
        self.send_header("character-cost", str(len(body["text"])))
        self.send_header("request-id", uuid.uuid4().hex)
        self.send_header("history-item-id", uuid.uuid4().hex[:20])
        self.end_headers()
        self.wfile.write(audio)


ElevenLabsStandIn.handler_class = _Handler  # the handler is defined below the stand-in it serves
