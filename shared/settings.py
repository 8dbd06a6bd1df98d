"""Every setting the app reads, in one pydantic model: the single source of truth.

Environment variables use the field names in UPPER_SNAKE case. Fields marked as secrets are
declared here so that the list is complete, but their values are read only through
`shared.secrets`, which goes to Key Vault when `KEY_VAULT_URL` is set.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

# One pinned Admin API version; upgrade it once a quarter (Shopify supports each for 12 months).
DEFAULT_SHOPIFY_API_VERSION = "2026-10"


def secret_field(description: str, default: str | None = None) -> Any:
    return Field(default=default, description=description, json_schema_extra={"secret": True})


class Settings(BaseSettings):
    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore", env_ignore_empty=True)

    # --- database ---
    database_url: SecretStr | None = secret_field(
        "Postgres connection URL. Unset: an embedded PostgreSQL under LOCAL_DATA_DIR."
    )
    database_transaction_pooler: bool = Field(
        False, description="True behind a transaction-mode pooler (Supabase :6543): no prepared statements."
    )
    database_pool_max_size: int = Field(4, ge=1, le=50, description="Connections per worker process.")

    # --- secrets ---
    key_vault_url: str | None = Field(None, description="Key Vault URI. Set: secrets come from Key Vault.")
    secret_cache_ttl_seconds: int = Field(300, ge=0, description="How long a Key Vault secret is cached.")
    token_encryption_key: SecretStr | None = secret_field(
        "Base64 of a 32-byte AES key for shop tokens; 'keyid:base64' pairs separated by commas to rotate."
    )

    # --- Shopify ---
    shopify_client_id: str = Field("retail-ai-advisor-local", description="The app's client id (API key).")
    shopify_client_secret: SecretStr | None = secret_field("The app's client secret (API secret key).")
    shopify_client_secret_previous: SecretStr | None = secret_field(
        "The client secret before a rotation: still accepted on signed requests until Shopify stops using it."
    )
    shopify_api_version: str = Field(
        DEFAULT_SHOPIFY_API_VERSION, pattern=r"^\d{4}-(01|04|07|10)$", description="Pinned Admin API version."
    )
    shopify_scopes: str = Field("read_products,read_inventory,read_orders", description="Access scopes the app asks for.")
    shopify_admin_base_url: str = Field(
        "https://{shop}", description="Origin of a shop's Admin API; the local emulator overrides it."
    )
    shopify_order_history_days: int = Field(
        365, ge=1, le=3650, description="How far back the sync reads orders (more than 60 days needs read_all_orders)."
    )
    shopify_bulk_sync_min_variants: int = Field(
        2000, ge=1, description="Full syncs of catalogues with at least this many variants use bulk operations."
    )
    catalog_csv_max_bytes: int = Field(
        15_000_000, ge=1_000, le=100_000_000, description="Largest catalogue CSV accepted (Shopify's own import limit)."
    )
    app_base_url: str = Field("http://127.0.0.1:7071", description="Public origin of this app.")
    briefing_link_hours: int = Field(72, ge=1, le=24 * 31, description="How long a signed briefing link stays valid.")
    local_function_key: SecretStr | None = secret_field(
        "Function key of the local host (`python -m shared.cli serve`); unset: a random key per start."
    )

    # --- schedule and Durable ---
    daily_schedule: str = Field("0 0 2 * * *", description="NCRONTAB (UTC) of the daily timer.")
    webhook_sweep_schedule: str = Field(
        "0 */10 * * * *", description="NCRONTAB (UTC) of the sweep that retries failed or stranded webhooks."
    )
    taskhub_name: str = Field(
        "retailaiadvisor", pattern=r"^[A-Za-z][A-Za-z0-9]{2,49}$", description="Durable task hub (host.json reads it)."
    )

    # --- market signals ---
    competitor_fetch_interval_seconds: float = Field(1.0, ge=0, description="Politeness gap per domain.")
    competitor_fetch_timeout_seconds: float = Field(15.0, gt=0, description="Per request to a competitor page.")
    competitor_fetch_max_bytes: int = Field(3_000_000, gt=0, description="Larger pages are cut off and refused.")
    competitor_fetch_concurrency: int = Field(5, ge=1, le=100, description="Pages in flight across the whole run.")
    competitor_fetch_allow_private_networks: bool = Field(
        False, description="Allow loopback/private targets (only the local sample store needs it)."
    )
    competitor_price_max_age_hours: int = Field(48, ge=1, description="Older competitor prices are not used.")
    fetch_user_agent: str = Field(
        "RetailAIAdvisorBot/0.1 (+https://retail-ai-advisor.example/bot)", description="How the fetcher names itself."
    )
    trends_base_url: str = Field("https://trends.google.com", description="Google Trends origin; tests point it at a stand-in.")
    trends_geo: str = Field("GB", description="Google Trends region.")
    trends_timeframe: str = Field("today 3-m", description="Google Trends window.")
    trends_anchor_keyword: str = Field("gift", description="Shared keyword in every batch so batches share a scale.")

    # --- pricing defaults (a shop's own settings override them) ---
    pricing_min_margin_pct: float = Field(20.0, ge=0, le=500, description="Never below cost x (1 + this %).")
    pricing_max_change_pct: float = Field(10.0, gt=0, le=100, description="Largest move per run.")
    pricing_position: str = Field(
        "median", pattern=r"^(min|median)$", description="Position against the competitors' min or median."
    )
    pricing_offset_pct: float = Field(0.0, ge=-50, le=50, description="-2 = undercut by 2 %, +5 = premium of 5 %.")
    pricing_rounding: str = Field(".99", pattern=r"^(\.99|\.95|whole|none)$", description="Price ending after rounding.")

    # --- briefing media ---
    speech_voice: str = Field("en-gb", description="espeak-ng voice for the offline narration.")
    speech_words_per_minute: int = Field(165, ge=80, le=400, description="Narration speed.")
    local_data_dir: Path = Field(Path(".local"), description="Embedded database, Durable state and media.")

    # --- telemetry ---
    log_level: str = Field("WARNING", pattern=r"^(DEBUG|INFO|WARNING|ERROR)$", description="Python log level.")

    # --- deployment and telemetry export (issue 7) ---
    applicationinsights_connection_string: str | None = Field(
        None, description="Application Insights connection string (not a secret). Set: spans, logs and metrics go "
        "to Azure Monitor, authenticated with the managed identity (local auth is off)."
    )
    telemetry_console_export: bool = Field(
        False, description="Without Application Insights: print every span to the console (quiet when false)."
    )
    # --- the briefing in the cloud: script (Azure OpenAI), voice (ElevenLabs), video (VEED on fal.ai) ---
    # Each is used when its endpoint (or key) is set; otherwise the offline provider runs.
    azure_openai_endpoint: str | None = Field(
        None, description="https://<resource>.openai.azure.com. Unset: the template script writer."
    )
    azure_openai_deployment: str = Field("gpt-4o-mini", description="Deployment name (the model= of each call).")
    azure_openai_api_version: str = Field(
        "2024-10-21", pattern=r"^(v1|\d{4}-\d{2}-\d{2}(-preview)?)$",
        description="A dated api-version (AzureOpenAI client), or v1 for {endpoint}/openai/v1/ (OpenAI client).",
    )
    azure_openai_api_key: SecretStr | None = secret_field(
        "Azure OpenAI key. Unset: keyless, a DefaultAzureCredential bearer token (Cognitive Services OpenAI User)."
    )
    azure_openai_max_tokens: int = Field(700, ge=200, le=4000, description="Cap on the script's completion tokens.")
    azure_openai_max_retries: int = Field(4, ge=0, le=10, description="SDK retries on 429/5xx (honouring retry-after).")
    azure_openai_timeout_seconds: float = Field(60.0, gt=0, le=600, description="Per request to Azure OpenAI.")
    azure_openai_temperature: float = Field(0.4, ge=0, le=2, description="Sampling temperature of the script.")
    elevenlabs_base_url: str = Field("https://api.elevenlabs.io", description="ElevenLabs API origin.")
    elevenlabs_api_key: SecretStr | None = secret_field("ElevenLabs key (xi-api-key). Unset: espeak-ng offline.")
    elevenlabs_voice_id: str = Field("21m00Tcm4TlvDq8ikWAM", description="ElevenLabs voice (the seed's Rachel).")
    elevenlabs_model_id: str = Field("eleven_multilingual_v2", description="ElevenLabs TTS model.")
    elevenlabs_output_format: str = Field(
        "mp3_44100_128", pattern=r"^mp3_\d+_\d+$", description="ElevenLabs output_format (MP3: parts join by frames)."
    )
    elevenlabs_max_retries: int = Field(4, ge=0, le=10, description="Retries on 429/5xx, with backoff.")
    elevenlabs_timeout_seconds: float = Field(120.0, gt=0, le=600, description="Per text-to-speech request.")
    veed_endpoint: str | None = Field(
        None, description="VEED model queue on fal.ai, e.g. https://queue.fal.run/veed/fabric-1.0. Unset: local ffmpeg."
    )
    veed_api_key: SecretStr | None = secret_field("fal.ai key for the VEED models (Authorization: Key ...).")
    veed_resolution: str = Field("720p", pattern=r"^(480p|720p)$", description="VEED Fabric output resolution.")
    veed_image_url: str | None = Field(
        None, description="Presenter image for VEED Fabric; unset: the briefing's title slide is sent."
    )
    veed_timeout_seconds: float = Field(120.0, gt=0, le=600, description="Per request to the VEED queue.")
    # --- pricing engine: stock rules and demand (issue 5; a shop's own settings override them) ---
    pricing_overstock_days: float = Field(120.0, gt=0, description="Days of cover above this: mark down.")
    pricing_markdown_pct: float = Field(5.0, gt=0, le=50, description="Step of an overstock markdown per run.")
    pricing_low_stock_days: float = Field(14.0, ge=0, description="Days of cover below this, with a rising trend: raise.")
    pricing_rising_trend_slope: float = Field(0.5, ge=0, description="Trend slope (index points a week) that counts as rising.")
    pricing_raise_pct: float = Field(5.0, gt=0, le=50, description="Step of a low-stock raise per run.")
    pricing_elasticity_prior: float = Field(
        -1.2, ge=-4, le=-0.2, description="Elasticity assumed where the sales history says too little."
    )
    # --- media store and briefing page (issue 6) ---
    media_store: str = Field(
        "auto", pattern=r"^(auto|local|blob)$",
        description="Where media go: local folder, Blob Storage, or auto (blob when an account is named for it).",
    )
    media_blob_account_url: str | None = Field(
        None, description="https://<account>.blob.core.windows.net: Blob Storage with the app's identity "
        "(else AzureWebJobsStorage__blobServiceUri, then a connection string).",
    )
    media_blob_connection_string: SecretStr | None = secret_field(
        "Blob connection string when not signing in with an identity; unset: AzureWebJobsStorage's "
        "(UseDevelopmentStorage=true is Azurite)."
    )
    media_blob_container: str = Field(
        "briefings", max_length=63, pattern=r"^[a-z0-9]([a-z0-9]|-[a-z0-9]){2,62}$", description="Container for the media."
    )
    media_link_minutes: int = Field(
        60, ge=5, le=24 * 60, description="Lifetime of a media link (SAS or signed route) minted for a page view."
    )
    # --- market signals: ZenRows, competitor CSV and matching, trends pacing ---
    zenrows_api_key: SecretStr | None = secret_field("ZenRows API key. Set: competitor pages are fetched through ZenRows.")
    zenrows_base_url: str = Field("https://api.zenrows.com/v1/", description="ZenRows API endpoint; tests point it at a stand-in.")
    zenrows_concurrency: int = Field(
        5, ge=1, le=1000, description="Requests in flight until ZenRows states the plan's Concurrency-Limit."
    )
    zenrows_timeout_seconds: float = Field(120.0, gt=0, description="Per ZenRows request (its own budget is 90 s).")
    zenrows_server_retries: int = Field(2, ge=0, le=5, description="Backoff retries after a 5xx or a network error.")
    competitor_csv_max_bytes: int = Field(5_000_000, ge=1_000, le=100_000_000, description="Largest competitor CSV accepted.")
    competitor_match_min_title_score: float = Field(
        0.80, ge=0.5, le=1.0, description="Title similarity (0..1) below which no match is proposed."
    )
    trends_retry_after_seconds: float = Field(60.0, ge=60.0, description="First pause after a Trends 429 (jitter is added).")
    trends_max_wait_seconds: float = Field(300.0, ge=0, description="Cap on all 429 waiting in one trends run.")
    trends_pause_seconds: float = Field(1.0, ge=0, description="Pause between two Trends batches.")
    # --- accounting costs (Apideck Unify) ---
    apideck_base_url: str = Field(
        "https://unify.apideck.com", description="Origin of Apideck's Unify API; tests point it at a stand-in."
    )
    apideck_app_id: str | None = Field(None, description="Apideck application id (x-apideck-app-id). Unset: no Apideck.")
    apideck_api_key: SecretStr | None = secret_field("Apideck API key, sent as a Bearer token. Unset: no Apideck.")
    apideck_page_size: int = Field(200, ge=1, le=200, description="Invoice items per page (Apideck allows 1-200).")
    apideck_max_attempts: int = Field(5, ge=1, le=20, description="Tries per page when Apideck answers 429 or 5xx.")
    apideck_timeout_seconds: float = Field(30.0, gt=0, description="Per request to Apideck.")

    # --- applying approved prices ---
    pricing_apply_approved: bool = Field(
        False, description="Off: suggest only. On: approved recommendations may be written to Shopify (needs write_products)."
    )

    @property
    def media_dir(self) -> Path:
        return self.local_data_dir / "media"


def secret_setting_names() -> list[str]:
    """Upper-case names of the settings that are secrets."""
    return [
        name.upper()
        for name, field in Settings.model_fields.items()
        if isinstance(field.json_schema_extra, dict) and field.json_schema_extra.get("secret")
    ]


def load_local_settings_file(path: Path) -> None:
    """Copy `Values` of a local.settings.json into the environment, as Core Tools does.

    Variables already set win, so a shell export overrides the file.
    """
    if not path.is_file():
        return
    try:
        values = json.loads(path.read_text(encoding="utf-8")).get("Values", {})
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    for key, value in values.items():
        os.environ.setdefault(key, str(value))


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
