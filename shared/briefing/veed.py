"""The briefing video from VEED's Fabric model, through fal.ai's queue API (httpx).

VEED publishes its AI video models on fal.ai and authenticates with a fal key
(`Authorization: Key <VEED_API_KEY>`). Fabric 1.0 turns an image and a narration into a
talking video; its queue flow, as the reference describes it:

    POST {endpoint}                      {"image_url", "audio_url", "resolution"}
         -> {"request_id", "status_url", "response_url", "cancel_url", "queue_position"}
    GET  {status_url}                    -> {"status": "IN_QUEUE" | "IN_PROGRESS" | "COMPLETED", ...}
    GET  {response_url}                  -> {"video": {"url", "content_type", ...}}
    GET  {video.url}                     -> the MP4

The client follows the URLs the service hands back rather than building them. Inputs must be
URLs: a public link when there is one (`veed_image_url`), otherwise a base64 data URI, which
fal accepts for file inputs (fal_client's `encode_file` makes the same), so nothing has to be
uploaded first. The narration is at most about a megabyte, well within a request.

This module only makes single requests; the waiting between them is the orchestrator's
(`render_video_cloud`, durable timers), never a sleep here.
"""

from __future__ import annotations

import base64
import mimetypes
from dataclasses import dataclass
from pathlib import Path

import httpx

from shared.briefing.media_probe import MediaInfo, MediaProbeError, probe
from shared.telemetry import external_call

FINISHED = "COMPLETED"
PENDING = ("IN_QUEUE", "IN_PROGRESS")
RETRYABLE_STATUS = {408, 409, 429, 500, 502, 503, 504}
MAX_VIDEO_BYTES = 500_000_000


class VeedError(Exception):
    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


@dataclass(frozen=True)
class VeedJob:
    request_id: str
    status_url: str
    response_url: str


def data_uri(path: Path, content_type: str | None = None) -> str:
    kind = content_type or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return f"data:{kind};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def _detail(response: httpx.Response) -> str:
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        return f"HTTP {response.status_code}"
    if isinstance(detail, list) and detail and isinstance(detail[0], dict):
        first = detail[0]
        return f"{'.'.join(map(str, first.get('loc', [])))}: {first.get('msg', '')}"[:200]
    return str(detail)[:200] if detail else f"HTTP {response.status_code}"


class VeedClient:
    def __init__(self, endpoint: str, api_key: str, *, timeout_seconds: float = 120.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.endpoint = endpoint.rstrip("/")
        self._client = httpx.Client(timeout=timeout_seconds, transport=transport, follow_redirects=True,
                                    headers={"Authorization": f"Key {api_key}"})

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> VeedClient:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def _check(self, response: httpx.Response, what: str, call) -> None:
        if response.status_code < 400:
            return
        retryable = response.status_code in RETRYABLE_STATUS
        call.set_outcome("throttled" if response.status_code == 429 else "error")
        raise VeedError(f"VEED {what} answered {response.status_code} ({_detail(response)})", retryable=retryable)

    def _request(self, method: str, url: str, what: str, call, **kwargs) -> httpx.Response:
        try:
            response = self._client.request(method, url, **kwargs)
        except httpx.TransportError as exc:
            call.set_outcome("error")
            raise VeedError(f"VEED could not be reached for {what}: {type(exc).__name__}", retryable=True) from exc
        self._check(response, what, call)
        return response

    def submit(self, image_url: str, audio_url: str, resolution: str) -> VeedJob:
        with external_call("veed", "submit", resolution=resolution) as call:
            response = self._request("POST", self.endpoint, "job submission", call,
                                     json={"image_url": image_url, "audio_url": audio_url, "resolution": resolution})
            body = response.json()
        try:
            return VeedJob(request_id=str(body["request_id"]), status_url=str(body["status_url"]),
                           response_url=str(body["response_url"]))
        except (KeyError, TypeError) as exc:
            raise VeedError(f"VEED's submission answer lacks {exc}", retryable=False) from None

    def status(self, job_status_url: str) -> str:
        with external_call("veed", "status") as call:
            body = self._request("GET", job_status_url, "status check", call).json()
        status = str(body.get("status", ""))
        if status not in (*PENDING, FINISHED):
            raise VeedError(f"VEED reported an unknown job status {status[:40]!r}")
        return status

    def download_result(self, response_url: str, out_path: Path) -> MediaInfo:
        """The finished job's video, written to out_path and probed; its seconds are the call's cost.
        A job that failed at VEED raises (permanent)."""
        with external_call("veed", "result") as call:
            body = self._request("GET", response_url, "result", call).json()
        video = body.get("video") if isinstance(body, dict) else None
        if not isinstance(video, dict) or not video.get("url"):
            raise VeedError("VEED's result has no video url")
        with external_call("veed", "download") as call, self._client.stream("GET", video["url"]) as response:
            if response.status_code >= 400:
                response.read()
                self._check(response, "video download", call)
            out_path.parent.mkdir(parents=True, exist_ok=True)
            written = 0
            with out_path.open("wb") as handle:
                for chunk in response.iter_bytes():
                    written += len(chunk)
                    if written > MAX_VIDEO_BYTES:
                        raise VeedError(f"VEED's video is larger than {MAX_VIDEO_BYTES} bytes")
                    handle.write(chunk)
            try:
                info = probe(out_path)
            except MediaProbeError as exc:
                call.set_outcome("error")
                raise VeedError(f"VEED's video cannot be read: {exc}", retryable=True) from exc
            if not info.duration_seconds or not info.of_kind("video"):
                call.set_outcome("error")
                raise VeedError("VEED's video has no video stream with a duration", retryable=True)
            call.add_cost("video_seconds", round(info.duration_seconds, 2))
        return info
