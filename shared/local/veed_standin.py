"""A loopback stand-in for VEED Fabric 1.0 on fal.ai's queue, making a real MP4.

    with VeedStandIn(api_key="k") as veed:
        settings.veed_endpoint = veed.endpoint      # {base}/veed/fabric-1.0

The reference (shared/reference/market-and-ai-services.md, section 6) gives the queue flow
and the input and output fields; the status codes and error bodies below follow fal's queue
API as its client reads them (202 while pending, 200 once COMPLETED; FastAPI-style `detail`),
and are this stand-in's model of it where the reference is silent:

- `POST /veed/fabric-1.0` (`Authorization: Key <key>`), JSON {image_url, audio_url, resolution}:
  inputs are http(s) URLs or base64 data URIs. -> {request_id, status_url, response_url,
  cancel_url, queue_position}.
- `GET /veed/fabric-1.0/requests/{id}/status` -> {"status": IN_QUEUE | IN_PROGRESS | COMPLETED}.
  A job moves on one stage per status check (`checks_in_queue`, `checks_in_progress`), so a
  test's virtual clock cannot outrun it and the client must poll.
- `GET /veed/fabric-1.0/requests/{id}` -> {"video": {url, content_type, file_name, file_size}}
  (400 while still running; 422 with a `detail` list for a job told to fail: `fail_jobs`).
- `GET /files/{name}.mp4`: the video, the image held for the length of the audio, H.264 + AAC,
  encoded by the imageio-ffmpeg binary (no auth, as fal's CDN links).
"""

from __future__ import annotations

import base64
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
from urllib.parse import urlsplit

import httpx

from shared.briefing.media_probe import probe
from shared.local.background_server import LoopbackStandIn

MODEL_PATH = "/veed/fabric-1.0"
RESOLUTIONS = {"480p": (854, 480), "720p": (1280, 720)}
_DATA_URI = re.compile(r"^data:([\w.+-]+/[\w.+-]+);base64,(.*)$", re.S)
_REQUEST = re.compile(rf"^{MODEL_PATH}/requests/([0-9a-f-]+)(/status)?$")


@dataclass
class VeedJobState:
    request_id: str
    image: bytes
    audio: bytes
    resolution: str
    status_checks: int = 0
    fail: bool = False
    video_name: str | None = None


@dataclass
class VeedStandIn(LoopbackStandIn):

    thread_name = "veed-standin"
    api_key: str
    checks_in_queue: int = 1
    checks_in_progress: int = 2
    fail_jobs: bool = False
    jobs: dict[str, VeedJobState] = field(default_factory=dict)
    submissions: list[dict] = field(default_factory=list)
    _files: dict[str, bytes] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def endpoint(self) -> str:
        return self.base_url + MODEL_PATH

    @property
    def status_checks(self) -> int:
        return sum(job.status_checks for job in self.jobs.values())

    def job_status(self, job: VeedJobState) -> str:
        if job.status_checks <= self.checks_in_queue:
            return "IN_QUEUE"
        if job.status_checks <= self.checks_in_queue + self.checks_in_progress:
            return "IN_PROGRESS"
        return "COMPLETED"

    def render(self, job: VeedJobState) -> str:
        """The job's MP4 (made once): the image held for the audio's length."""
        import imageio_ffmpeg

        with self._lock:
            if job.video_name:
                return job.video_name
        width, height = RESOLUTIONS[job.resolution]
        with tempfile.TemporaryDirectory(prefix="veed-standin-") as work:
            image, audio, out = Path(work) / "image", Path(work) / "audio", Path(work) / "out.mp4"
            image.write_bytes(job.image)
            audio.write_bytes(job.audio)
            # -shortest alone overshoots by up to a second with a looped image; cut at the audio's length.
            seconds = probe(audio).duration_seconds or 0.1
            subprocess.run([
                imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y",
                "-loop", "1", "-framerate", "5", "-i", str(image), "-i", str(audio),
                "-vf", f"scale={width}:{height},format=yuv420p", "-c:v", "libx264", "-preset", "ultrafast",
                "-tune", "stillimage", "-c:a", "aac", "-b:a", "96k", "-t", f"{seconds:.3f}", "-movflags", "+faststart", str(out),
            ], check=True, capture_output=True, timeout=300)
            data = out.read_bytes()
        name = f"{uuid.uuid4().hex}.mp4"
        with self._lock:
            self._files[name] = data
            job.video_name = name
        return name


def _fetch_input(value: object) -> bytes | None:
    if not isinstance(value, str):
        return None
    match = _DATA_URI.match(value)
    if match:
        try:
            return base64.b64decode(match.group(2), validate=True)
        except ValueError:
            return None
    if value.startswith(("http://", "https://")):
        response = httpx.get(value, timeout=30)
        return response.content if response.status_code == 200 else None
    return None


class _Handler(BaseHTTPRequestHandler):
    owner: VeedStandIn
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:
        pass

    def _json(self, status: int, payload: dict) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-fal-request-id", uuid.uuid4().hex)
        self.end_headers()
        self.wfile.write(body)

    def _authorised(self) -> bool:
        header = self.headers.get("Authorization", "")
        return header.startswith("Key ") and secrets.compare_digest(header[4:].encode(), self.owner.api_key.encode())

    def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if urlsplit(self.path).path != MODEL_PATH:
            return self._json(404, {"detail": "Application not found"})
        if not self._authorised():
            return self._json(401, {"detail": "Invalid or missing key"})
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            return self._json(422, {"detail": [{"loc": ["body"], "msg": "Invalid JSON", "type": "json_invalid"}]})
        errors = []
        resolution = body.get("resolution", "720p")
        if resolution not in RESOLUTIONS:
            errors.append({"loc": ["body", "resolution"], "msg": "Input should be '480p' or '720p'",
                           "type": "literal_error"})
        inputs = {}
        for name in ("image_url", "audio_url"):
            inputs[name] = _fetch_input(body.get(name))
            if not inputs[name]:
                errors.append({"loc": ["body", name], "msg": "Field required or not a readable file URL",
                               "type": "file_download_error"})
        if errors:
            return self._json(422, {"detail": errors})
        request_id = str(uuid.uuid4())
        job = VeedJobState(request_id, inputs["image_url"], inputs["audio_url"], resolution, fail=self.owner.fail_jobs)
        with self.owner._lock:
            self.owner.jobs[request_id] = job
            self.owner.submissions.append({"resolution": resolution, "image_bytes": len(job.image),
                                           "audio_bytes": len(job.audio)})
        base = f"{self.owner.endpoint}/requests/{request_id}"
        self._json(200, {"request_id": request_id, "response_url": base, "status_url": f"{base}/status",
                         "cancel_url": f"{base}/cancel", "queue_position": len(self.owner.jobs) - 1})

    def do_GET(self) -> None:  # noqa: N802
        path = urlsplit(self.path).path
        if path.startswith("/files/"):
            data = self.owner._files.get(path.removeprefix("/files/"))
            if data is None:
                return self._json(404, {"detail": "File not found"})
            self.send_response(200)
            self.send_header("Content-Type", "video/mp4")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        match = _REQUEST.match(path)
        if not match:
            return self._json(404, {"detail": "Not found"})
        if not self._authorised():
            return self._json(401, {"detail": "Invalid or missing key"})
        job = self.owner.jobs.get(match.group(1))
        if job is None:
            return self._json(404, {"detail": "Request not found"})
        if match.group(2):  # status
            with self.owner._lock:
                job.status_checks += 1
            status = self.owner.job_status(job)
            payload = {"status": status, "request_id": job.request_id, "response_url": f"{self.owner.endpoint}/requests/{job.request_id}"}
            if status == "IN_QUEUE":
                payload["queue_position"] = 0
            return self._json(200 if status == "COMPLETED" else 202, payload)
        if self.owner.job_status(job) != "COMPLETED":
            return self._json(400, {"detail": "Request is still in progress"})
        if job.fail:
            return self._json(422, {"detail": [{"loc": ["body", "image_url"], "msg": "No face was found in the image",
                                                "type": "face_not_found"}]})
        name = self.owner.render(job)
        data = self.owner._files[name]
        self._json(200, {"video": {"url": f"{self.owner.base_url}/files/{name}", "content_type": "video/mp4",
                                   "file_name": "output.mp4", "file_size": len(data)}})


VeedStandIn.handler_class = _Handler  # the handler is defined below the stand-in it serves
