"""The three cloud briefing services on loopback at once: Azure OpenAI, ElevenLabs and VEED.

`python -m shared.cli demo --cloud-stand-ins` runs the pipeline with them, so the cloud code
paths (the openai SDK, the TTS client, the VEED job polled with durable timers) run end to end
without an account. The keys are made up per process and set as the app's secrets.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from shared.local.azure_openai_standin import AzureOpenAIStandIn
from shared.local.elevenlabs_standin import ElevenLabsStandIn
from shared.local.veed_standin import VeedStandIn


@dataclass
class CloudBriefingStandIns:
    azure_openai: AzureOpenAIStandIn
    elevenlabs: ElevenLabsStandIn
    veed: VeedStandIn
    settings: dict[str, str]


@contextmanager
def cloud_briefing_stand_ins() -> Iterator[CloudBriefingStandIns]:
    keys = {name: secrets.token_urlsafe(24) for name in ("aoai", "xi", "fal")}
    with AzureOpenAIStandIn(api_key=keys["aoai"]) as aoai, ElevenLabsStandIn(api_key=keys["xi"]) as eleven, \
            VeedStandIn(api_key=keys["fal"]) as veed:
        yield CloudBriefingStandIns(aoai, eleven, veed, {
            "AZURE_OPENAI_ENDPOINT": aoai.endpoint, "AZURE_OPENAI_API_KEY": keys["aoai"],
            "ELEVENLABS_BASE_URL": eleven.base_url, "ELEVENLABS_API_KEY": keys["xi"],
            "VEED_ENDPOINT": veed.endpoint, "VEED_API_KEY": keys["fal"],
        })
