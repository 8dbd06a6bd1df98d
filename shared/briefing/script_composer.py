"""Which writer writes today's script, and what happens when the model's script is unusable.

With AZURE_OPENAI_ENDPOINT set the model writes it; a draft that fails any check (schema,
length, product names, a figure the insights do not hold) or a service that cannot answer
falls back to the deterministic template writer, and the outcome says so (`fallback_reason`),
so the run is marked degraded and the page shows why. With no endpoint the template writer
is simply the writer: nothing is degraded.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date

from shared.briefing.azure_openai_writer import (
    AzureOpenAIConfig,
    AzureOpenAIScriptWriter,
    ScriptModelError,
    ScriptModelOutputError,
    TokenUsage,
    make_client,
)
from shared.briefing.insights import Insight
from shared.briefing.script import BriefingScript, TemplateScriptWriter, spoken_date, validate_numbers
from shared.secrets import get_optional_secret
from shared.settings import Settings


@dataclass(frozen=True)
class ScriptOutcome:
    script: BriefingScript
    usage: TokenUsage
    fallback_reason: str | None = None  # set when the model was asked but the template wrote the script

    @property
    def degraded(self) -> bool:
        return self.fallback_reason is not None


def azure_openai_config(settings: Settings) -> AzureOpenAIConfig | None:
    if not settings.azure_openai_endpoint:
        return None
    return AzureOpenAIConfig(
        endpoint=settings.azure_openai_endpoint, deployment=settings.azure_openai_deployment,
        api_version=settings.azure_openai_api_version, max_tokens=settings.azure_openai_max_tokens,
        max_retries=settings.azure_openai_max_retries, timeout_seconds=settings.azure_openai_timeout_seconds,
        temperature=settings.azure_openai_temperature,
    )


def compose_script(shop_name: str, run_date: date, insights: Sequence[Insight], settings: Settings,
                   token_provider: Callable[[], str] | None = None) -> ScriptOutcome:
    template = TemplateScriptWriter()
    config = azure_openai_config(settings)
    if config is None:
        script = template.write(shop_name, run_date, insights)
        validate_numbers(script, insights)
        return ScriptOutcome(script, TokenUsage())
    usage = TokenUsage()
    try:
        client = make_client(config, api_key=get_optional_secret("AZURE_OPENAI_API_KEY"), token_provider=token_provider)
        written = AzureOpenAIScriptWriter(client, config).write(shop_name, run_date, spoken_date(run_date), insights)
        return ScriptOutcome(written.script, written.usage)
    except ScriptModelError as exc:
        if isinstance(exc, ScriptModelOutputError):
            usage = exc.usage
        reason = f"{exc}; the template script was used instead"
    script = template.write(shop_name, run_date, insights)
    validate_numbers(script, insights)
    return ScriptOutcome(script, usage, fallback_reason=reason)
