"""The daily pipeline with the cloud briefing providers, each a loopback stand-in on the real wire.

Azure OpenAI writes the script (the openai SDK), ElevenLabs speaks it (httpx, real MP3 back),
VEED renders the video on fal's queue: the `render_video_cloud` sub-orchestration polls the
job with durable timers on the local runner's virtual clock. The briefing's cost (tokens,
characters, video seconds) is stored and shown on the page.
"""

from __future__ import annotations

import os
import threading
import time
import traceback
from decimal import Decimal

import pytest

from conftest import columns_holding
from shared.briefing.script import BriefingScript, script_text
from shared.db import run_costs
from shared.db.pool import transaction
from shared.local.azure_openai_standin import AzureOpenAIStandIn
from shared.local.demo import apply_settings, install_sample_shop, local_functions, run_and_wait, sample_store_stand_ins
from shared.local.elevenlabs_standin import ElevenLabsStandIn
from shared.local.veed_standin import VeedStandIn
from shared.media_store import media_store

TIMER_CREATED, TIMER_FIRED, TASK_SCHEDULED = 10, 11, 4
AOAI_KEY, XI_KEY, FAL_KEY = "aoai-key-1234567890", "xi-key-1234567890", "fal-key-1234567890"


@pytest.fixture(scope="module")
def world(local_data_dir, logs):
    saved = dict(os.environ)
    with sample_store_stand_ins(n_products=12) as stand_ins, AzureOpenAIStandIn(api_key=AOAI_KEY) as aoai, \
            ElevenLabsStandIn(api_key=XI_KEY) as eleven, VeedStandIn(api_key=FAL_KEY) as veed:
        install_sample_shop(stand_ins, progress=lambda line: None)
        apply_settings({
            "AZURE_OPENAI_ENDPOINT": aoai.endpoint, "AZURE_OPENAI_API_KEY": AOAI_KEY,
            "ELEVENLABS_BASE_URL": eleven.base_url, "ELEVENLABS_API_KEY": XI_KEY,
            "VEED_ENDPOINT": veed.endpoint, "VEED_API_KEY": FAL_KEY,
        })
        with local_functions(lambda line: None) as (runner, host, key):
            yield stand_ins, aoai, eleven, veed, runner, host, key
    os.environ.clear()
    os.environ.update(saved)
    apply_settings({})


@pytest.fixture()
def fresh(world):
    _, aoai, eleven, veed, *_ = world
    aoai.mode, veed.fail_jobs, veed.checks_in_progress, eleven.api_key = "ok", False, 2, XI_KEY
    aoai.requests.clear()
    eleven.requests.clear()
    yield world


def steps_of(run_id: str) -> dict[str, dict]:
    with transaction() as conn:
        return {r["step"]: r for r in conn.execute("SELECT * FROM pipeline_steps WHERE run_id = %s", (run_id,))}


def briefing_of(run_id: str) -> dict:
    with transaction() as conn:
        return conn.execute("SELECT * FROM briefings WHERE run_id = %s", (run_id,)).fetchone()


def test_script_voice_and_video_come_from_the_cloud_and_their_cost_is_recorded(fresh, monkeypatch):
    stand_ins, aoai, eleven, veed, runner, host, key = fresh
    activity_sleeps: list[float] = []
    real_sleep = time.sleep

    def watched_sleep(seconds: float) -> None:
        # subprocess.run(timeout=...) polls its child with millisecond sleeps (ffmpeg, probing): not a wait for VEED.
        caller = traceback.extract_stack()[-2].filename
        if threading.current_thread().name.startswith("durable-activity") and not caller.endswith("subprocess.py"):
            activity_sleeps.append((seconds, caller))
        real_sleep(seconds)

    monkeypatch.setattr(time, "sleep", watched_sleep)
    checks_before = veed.status_checks
    outcome = run_and_wait(runner, host, key, stand_ins.store.domain, lambda line: None)
    assert outcome.status == "completed", outcome
    steps = steps_of(outcome.run_id)
    assert {s: r["status"] for s, r in steps.items()} == {s: "ok" for s in steps}
    assert steps["write_script"]["counts"]["source"] == "azure_openai"
    assert steps["synthesize_speech"]["counts"]["provider"] == "elevenlabs"
    assert steps["render_video"]["counts"]["provider"] == "veed"
    briefing = briefing_of(outcome.run_id)
    assert briefing["script_source"] == "azure_openai" and briefing["audio_uri"].endswith("narration.mp3")

    # The job was polled by the orchestrator: a durable timer before every status check.
    history = runner.get_history(f"{outcome.run_id}:render_video_cloud")
    timers = [e for e in history if e["EventType"] == TIMER_CREATED]
    checks = [e for e in history if e["EventType"] == TASK_SCHEDULED and e["Name"] == "check_video_job"]
    assert len(timers) == len(checks) == veed.status_checks - checks_before == 4  # queue, 2 x progress, done
    for check in checks:
        before = history[:history.index(check)]
        assert next(e for e in reversed(before) if e["EventType"] in (TIMER_FIRED, 5, 6))["EventType"] == TIMER_FIRED
    assert activity_sleeps == []

    # The video VEED made is the one stored, and it is as long as the narration.
    assert float(briefing["video_seconds"]) == pytest.approx(float(briefing["audio_seconds"]), abs=1.0)
    assert media_store().read_bytes(briefing["video_uri"])[4:8] == b"ftyp"

    # Cost: what each service reported, summed per briefing.
    with transaction() as conn:
        cost = run_costs.briefing_cost(conn, outcome.run_id)
    (request,) = aoai.requests
    assert cost.prompt_tokens == steps["write_script"]["counts"]["prompt_tokens"] > 100
    assert cost.completion_tokens == steps["write_script"]["counts"]["completion_tokens"] > 50
    spoken = script_text(BriefingScript.model_validate(briefing["script"]))
    assert cost.characters == sum(len(r.body["text"]) for r in eleven.requests) == len(spoken)
    assert cost.video_seconds == Decimal(str(briefing["video_seconds"])).quantize(Decimal("0.01"))
    assert {(r.service, r.unit) for r in cost.rows} == {
        ("azure_openai", "prompt_tokens"), ("azure_openai", "completion_tokens"),
        ("elevenlabs", "characters"), ("veed", "video_seconds")}
    page = media_store().read_bytes(briefing["page_uri"]).decode()
    assert 'id="costs"' in page and f"{cost.prompt_tokens} prompt tokens" in page
    assert f'<td>elevenlabs</td><td>characters</td><td class="num">{cost.characters}</td>' in page


def test_an_invented_figure_and_a_failed_video_job_degrade_the_run_and_the_page_says_so(fresh):
    stand_ins, aoai, eleven, veed, runner, host, key = fresh
    aoai.mode, veed.fail_jobs = "invent_number", True
    outcome = run_and_wait(runner, host, key, stand_ins.store.domain, lambda line: None)
    assert outcome.status == "degraded", outcome
    steps = steps_of(outcome.run_id)
    script_step, video_step = steps["write_script"], steps["render_video"]
    assert script_step["status"] == "degraded" and script_step["counts"]["source"] == "template"
    assert "'37'" in script_step["error"] and "template script was used" in script_step["error"]
    assert video_step["status"] == "degraded" and video_step["counts"]["provider"] == "ffmpeg"
    assert "No face was found" in video_step["error"] and "local renderer" in video_step["error"]
    briefing = briefing_of(outcome.run_id)
    assert briefing["script_source"] == "template" and briefing["video_uri"]
    page = media_store().read_bytes(briefing["page_uri"]).decode()
    assert "template script was used" in page and "local renderer made the video" in page
    with transaction() as conn:
        cost = run_costs.briefing_cost(conn, outcome.run_id)
    # The rejected draft's tokens were spent all the same.
    assert cost.prompt_tokens > 0 and cost.completion_tokens > 0
    assert ("ffmpeg", "video_seconds") in {(r.service, r.unit) for r in cost.rows}


def test_a_job_that_never_finishes_is_given_up_at_the_deadline_in_orchestration_time(fresh):
    stand_ins, aoai, eleven, veed, runner, host, key = fresh
    veed.checks_in_progress = 10_000
    started = time.monotonic()
    outcome = run_and_wait(runner, host, key, stand_ins.store.domain, lambda line: None)
    wall = time.monotonic() - started
    video_step = steps_of(outcome.run_id)["render_video"]
    assert video_step["status"] == "degraded" and "did not finish within 30 minutes" in video_step["error"]
    history = runner.get_history(f"{outcome.run_id}:render_video_cloud")
    timers = [e for e in history if e["EventType"] == TIMER_CREATED]
    from shared.local.durable import parse_timestamp

    waited = parse_timestamp(timers[-1]["FireAt"]) - parse_timestamp(history[0]["Timestamp"])
    assert waited.total_seconds() >= 30 * 60 > wall
    assert 30 <= len(timers) <= 40  # 10, 20, 40 s, then a minute each


def test_no_key_reaches_a_log_line_or_the_database(fresh, logs):
    stand_ins, aoai, eleven, veed, runner, host, key = fresh
    outcome = run_and_wait(runner, host, key, stand_ins.store.domain, lambda line: None)
    assert outcome.ok
    assert logs, "the log collector saw nothing: the check would prove nothing"
    for secret in (AOAI_KEY, XI_KEY, FAL_KEY):
        assert not [line for line in logs if secret in line]
    assert columns_holding([AOAI_KEY, XI_KEY, FAL_KEY]) == []


def test_a_voice_service_refusing_the_key_hands_the_narration_to_espeak_and_says_so(fresh):
    stand_ins, aoai, eleven, veed, runner, host, key = fresh
    eleven.api_key = "a-key-the-app-does-not-have"
    outcome = run_and_wait(runner, host, key, stand_ins.store.domain, lambda line: None)
    assert outcome.status == "degraded", outcome
    speech = steps_of(outcome.run_id)["synthesize_speech"]
    assert speech["status"] == "degraded" and speech["counts"]["provider"] == "espeak-ng"
    assert "401 (invalid_api_key)" in speech["error"] and "espeak-ng read the narration" in speech["error"]
    assert len(eleven.requests) == 1  # a refused key is not retried
    briefing = briefing_of(outcome.run_id)
    assert briefing["audio_uri"].endswith("narration.wav") and briefing["video_uri"]
    assert steps_of(outcome.run_id)["render_video"]["counts"]["provider"] == "veed"
    assert "espeak-ng read the narration" in media_store().read_bytes(briefing["page_uri"]).decode()


def test_the_insights_compare_costs_with_the_previous_run(fresh):
    from activities.compute_recommendations import briefing_signals

    stand_ins, aoai, eleven, veed, runner, host, key = fresh
    first = run_and_wait(runner, host, key, stand_ins.store.domain, lambda line: None)
    second = run_and_wait(runner, host, key, stand_ins.store.domain, lambda line: None)
    with transaction() as conn:
        shop_id = conn.execute("SELECT shop_id FROM pipeline_runs WHERE id = %s", (second.run_id,)).fetchone()["shop_id"]
        earlier = {str(r["variant_id"]): r["cost"] for r in conn.execute(
            "SELECT variant_id, cost FROM recommendations WHERE run_id = %s AND cost IS NOT NULL", (first.run_id,))}
        signals = briefing_signals(conn, shop_id, second.run_id, {})
    assert earlier and {c.variant_id: c.cost for c in signals.previous_costs} == earlier
