"""A loopback stand-in for Azure OpenAI chat completions, speaking the wire format the SDK reads.

    with AzureOpenAIStandIn(api_key="k") as aoai:
        client = AzureOpenAI(azure_endpoint=aoai.endpoint, api_key="k", api_version="2024-10-21")

Routes, as on https://<resource>.openai.azure.com:
- `POST /openai/deployments/{deployment}/chat/completions?api-version=...` (the AzureOpenAI client);
- `POST /openai/v1/chat/completions` with the deployment as `model` (the v1 API, plain OpenAI client).
Auth: `api-key: <key>` or `Authorization: Bearer <token>`; anything else is 401 with Azure's
error body. A missing api-version or an unknown deployment is 404, as Azure answers.

The "model" is deterministic: it reads the JSON between <briefing_data> tags in the user message
and states, for each insight, its subject and up to three of its numbers, then pads with
figure-free sentences to about 130 words. It follows the strict json_schema response format the
request names (greeting, insights[product, text], actions, closing). Token counts are estimates
(characters / 4): there is no tokenizer here, only the shape of `usage`.

Misbehaviour on demand (the things a real deployment does):
- `rate_limit_next = n`: the next n requests answer 429 with `retry-after` and `retry-after-ms`;
- `mode`: "ok" | "invent_number" (adds a figure the data does not hold) | "obey_injection"
  (a naive model that does what a product title tells it) | "malformed_json" (cut-off JSON,
  finish_reason stop) | "schema_violation" (valid JSON, two insights, no closing) |
  "truncated" (finish_reason length).
"""

from __future__ import annotations

import json
import math
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

from shared.local.background_server import LoopbackStandIn

MODES = ("ok", "invent_number", "obey_injection", "malformed_json", "schema_violation", "truncated")
INVENTED_SENTENCE = "Sales of it will rise by 37 percent next week."
_DATA = re.compile(r"<briefing_data>\s*(.*?)\s*</briefing_data>", re.S)
_DEPLOYMENT_PATH = re.compile(r"^/openai/deployments/([^/]+)/chat/completions$")
_INJECTION = re.compile(r"ignore (?:all )?previous instructions.*?(say .*)$", re.I)
_PADDING = (
    "Nothing changes in your store until you approve it on your briefing page.",
    "Each suggestion on the page shows the reasons behind it and how sure we are.",
    "Competitor prices and search trends are checked again tomorrow morning.",
    "Sorting the table by any column helps you find the biggest moves quickly.",
    "Keeping unit costs up to date makes every suggestion more useful.",
    "Take a moment today to review the suggestions that matter most to you.",
    "Small, steady price moves usually work better than sudden large ones.",
)


@dataclass
class RecordedRequest:
    path: str
    query: dict[str, str]
    auth: str  # "api-key" | "bearer" | "none"
    body: dict
    arrived_at: float  # time.monotonic()


@dataclass
class AzureOpenAIStandIn(LoopbackStandIn):

    thread_name = "azure-openai-standin"
    api_key: str | None = None
    bearer_token: str | None = None
    deployments: tuple[str, ...] = ("gpt-4o-mini",)
    mode: str = "ok"
    rate_limit_next: int = 0
    retry_after_ms: int = 300
    requests: list[RecordedRequest] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def endpoint(self) -> str:
        assert self._server is not None, "start the stand-in first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def _take_rate_limit(self) -> bool:
        with self._lock:
            if self.rate_limit_next > 0:
                self.rate_limit_next -= 1
                return True
            return False


def _estimate_tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / 4))


def _subject(item: dict) -> str:
    return item.get("product") or item.get("keyword") or "One data step"


def _spoken_name(name: str) -> str:
    # "units_sold_28d" -> "units sold": digits in a name would read as a figure.
    return " ".join(part for part in name.split("_") if not any(ch.isdigit() for ch in part)) or "value"


def _insight_text(item: dict) -> str:
    numbers = list(item.get("numbers", {}).items())[:3]
    if not numbers:
        return f"{_subject(item)} needs a look today; the page has the details."
    facts = [f"its {_spoken_name(name)} is {value}" for name, value in numbers]
    return f"For {_subject(item)}, " + ", ".join(facts) + "."


def write_draft(data: dict, mode: str = "ok", target_words: int = 130) -> dict:
    """The stand-in model's answer to one briefing_data document."""
    items = list(data.get("insights", []))[:3]
    while len(items) < 3:
        items.append({"product": None, "keyword": None, "numbers": {}})
    insights = [{"product": _subject(i), "text": _insight_text(i)} for i in items]
    if mode == "invent_number":
        insights[0]["text"] += " " + INVENTED_SENTENCE
    if mode == "obey_injection":
        for index, item in enumerate(items):
            match = _INJECTION.search(item.get("product") or "")
            if match:
                insights[index]["text"] += f" As instructed, I {match.group(1)}."
    draft = {
        "greeting": f"Good morning, {data.get('shop_name') or 'there'}. Here is your pricing briefing for {data.get('date')}.",
        "insights": insights,
        "actions": [f"Review {i['product']} on your briefing page." for i in insights[:2]],
        "closing": "The full table, charts and reasons are on your briefing page.",
    }

    def words() -> int:
        return sum(len(str(v).split()) for v in (draft["greeting"], draft["closing"], *draft["actions"])) + sum(
            len(i["text"].split()) for i in draft["insights"]) + 4  # "Your actions for today:"

    for sentence in _PADDING:
        if words() >= target_words:
            break
        if words() + len(sentence.split()) <= 155:
            draft["closing"] += " " + sentence
    draft["closing"] += " Have a good day."
    if mode == "schema_violation":
        draft = {"greeting": draft["greeting"], "insights": draft["insights"][:2], "actions": draft["actions"]}
    return draft


class _Handler(BaseHTTPRequestHandler):
    owner: AzureOpenAIStandIn
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:
        pass

    def _send_json(self, status: int, payload: dict, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("apim-request-id", secrets.token_hex(16))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _error(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        self._send_json(status, {"error": {"code": code, "message": message}}, headers)

    def _auth(self) -> str | None:
        key = self.headers.get("api-key")
        if key is not None:
            return "api-key" if self.owner.api_key is not None and secrets.compare_digest(key, self.owner.api_key) else None
        authorization = self.headers.get("Authorization", "")
        if authorization.startswith("Bearer ") and self.owner.bearer_token is not None:
            token = authorization.removeprefix("Bearer ")
            return "bearer" if secrets.compare_digest(token, self.owner.bearer_token) else None
        return None

    def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            return self._error(400, "invalid_request_error", "We could not parse the JSON body of your request.")
        auth = self._auth()
        with self.owner._lock:
            self.owner.requests.append(RecordedRequest(url.path, query, auth or "none", body, time.monotonic()))

        match = _DEPLOYMENT_PATH.match(url.path)
        if match:
            deployment = match.group(1)
            if "api-version" not in query:
                return self._error(404, "404", "Resource not found")
        elif url.path == "/openai/v1/chat/completions":
            deployment = body.get("model")
        else:
            return self._error(404, "404", "Resource not found")
        if auth is None:
            return self._error(401, "401", "Access denied due to invalid subscription key or wrong API endpoint. "
                                           "Make sure to provide a valid key for an active subscription and use a "
                                           "correct regional API endpoint for your resource.")
        if deployment not in self.owner.deployments:
            return self._error(404, "DeploymentNotFound", "The API deployment for this resource does not exist.")
        if self.owner._take_rate_limit():
            wait_ms = self.owner.retry_after_ms
            return self._error(429, "429", "Requests to the ChatCompletions_Create Operation have exceeded token rate "
                                           f"limit of your current pricing tier. Please retry after {math.ceil(wait_ms / 1000)} "
                                           "seconds.", {"retry-after": str(math.ceil(wait_ms / 1000)),
                                                        "retry-after-ms": str(wait_ms),
                                                        "x-ratelimit-remaining-requests": "0",
                                                        "x-ratelimit-remaining-tokens": "0"})
        problem = self._check_request(body)
        if problem:
            return self._error(400, "invalid_request_error", problem)
        self._complete(body, deployment)

    @staticmethod
    def _check_request(body: dict) -> str | None:
        if not isinstance(body.get("messages"), list) or not body["messages"]:
            return "'messages' is a required property"
        limit = body.get("max_tokens", body.get("max_completion_tokens"))
        if not isinstance(limit, int) or not 1 <= limit <= 16384:
            return "max_tokens must be an integer between 1 and 16384 (this stand-in insists on a bound)"
        response_format = body.get("response_format") or {}
        if response_format.get("type") != "json_schema" or not response_format.get("json_schema", {}).get("schema"):
            return "this deployment is only used with a json_schema response_format"
        return None

    def _complete(self, body: dict, deployment: str) -> None:
        mode = self.owner.mode
        user = next((m.get("content") or "" for m in reversed(body["messages"]) if m.get("role") == "user"), "")
        found = _DATA.search(user if isinstance(user, str) else "")
        data = json.loads(found.group(1)) if found else {}
        content = json.dumps(write_draft(data, mode))
        finish_reason = "stop"
        if mode == "malformed_json":
            content = content[: len(content) // 2]
        elif mode == "truncated":
            content, finish_reason = content[: min(len(content), body["max_tokens"] * 2)], "length"
        prompt = "".join(str(m.get("content") or "") for m in body["messages"])
        prompt_tokens, completion_tokens = _estimate_tokens(prompt), _estimate_tokens(content)
        filters = {k: {"filtered": False, "severity": "safe"} for k in ("hate", "self_harm", "sexual", "violence")}
        self._send_json(200, {
            "id": "chatcmpl-" + secrets.token_hex(12),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": f"{deployment}-2024-07-18",
            "system_fingerprint": "fp_standin",
            "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": filters}],
            "choices": [{
                "index": 0, "finish_reason": finish_reason, "logprobs": None,
                "message": {"role": "assistant", "content": content, "refusal": None},
                "content_filter_results": filters,
            }],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens},
        })


AzureOpenAIStandIn.handler_class = _Handler  # the handler is defined below the stand-in it serves
