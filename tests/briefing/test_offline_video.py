"""The offline briefing video, checked the way a viewer would notice a fault.

A briefing is rendered as the pipeline renders it offline (template script, espeak-ng narration,
storyboard slides, the local ffmpeg renderer), then the MP4 is checked:

- its duration matches the narration's within 1 s;
- its captions are burned in and timed: at the middle of each caption's time, the caption band of
  the frame is nearest to that caption drawn by the slide renderer, and far from an empty band
  (pixels compared, not OCR: this shows the right caption image is on screen at the right time);
- its audio is speech: decoded to PCM by the imageio-ffmpeg binary, its RMS is well above silence,
  its loudness rises and falls as speech does (a steady tone would not), and its envelope follows
  the narration's. Silent and tone-only controls fail the same checks.
"""

from __future__ import annotations

import subprocess
from datetime import date
from decimal import Decimal as D
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest
from PIL import Image

from shared.briefing.captions import caption_durations, slide_durations, split_captions
from shared.briefing.insights import build_insights
from shared.briefing.media_probe import probe
from shared.briefing.script import TemplateScriptWriter, script_text
from shared.briefing.slides import CAPTION_TOP, HEIGHT, WIDTH, draw_caption, render_slide_image
from shared.briefing.speech import EspeakSpeech
from shared.briefing.storyboard import build_slides
from shared.briefing.video import LocalVideoRenderer
from shared.pricing import PricingInput, VariantPricingRow, recommend

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
RATE = 16_000
WINDOW = RATE // 20  # 50 ms
SILENCE_RMS = 0.01  # of full scale: about -40 dBFS
CAPTION_MAX_WORDS = 14  # the renderer's default


def _rows() -> list[VariantPricingRow]:
    return [
        VariantPricingRow(variant_id=1, sku="EG-250", title="Earl Grey Supreme 250g", current_price=D("12.50"),
                          cost=D("6.10"), competitor_min=D("9.99"), competitor_median=D("11.20"),
                          competitor_max=D("13.00"), competitor_count=3, units_sold_28d=160, stock=90),
        VariantPricingRow(variant_id=2, sku="AS-500", title="Assam Breakfast 500g", current_price=D("9.00"),
                          cost=D("8.40"), units_sold_28d=45, stock=30),
        VariantPricingRow(variant_id=3, sku="TP-01", title="Cast Iron Teapot", current_price=D("39.99"),
                          cost=D("14.00"), units_sold_28d=2, stock=300),
    ]


@pytest.fixture(scope="module")
def briefing(tmp_path_factory):
    work = tmp_path_factory.mktemp("offline-video")
    insights = build_insights(recommend(PricingInput(rows=_rows())), limit=3)
    script = TemplateScriptWriter().write("Hartley & Finch Tea Co.", date(2026, 11, 3), insights)
    narration = EspeakSpeech(voice="en-gb", rate_wpm=165).synthesize(script_text(script), work / "narration.wav")
    slides = build_slides(script, insights, "Hartley & Finch Tea Co.", date(2026, 11, 3))
    video = LocalVideoRenderer().render(slides, narration.path, work / "briefing.mp4")
    return slides, narration.path, video


def pcm(path: Path) -> np.ndarray:
    """The file's audio as mono float samples at 16 kHz, decoded by ffmpeg."""
    raw = subprocess.run(
        [FFMPEG, "-hide_banner", "-loglevel", "error", "-i", str(path), "-vn", "-ac", "1", "-ar", str(RATE),
         "-f", "s16le", "-acodec", "pcm_s16le", "-"],
        check=True, capture_output=True,
    ).stdout  # fmt: skip
    return np.frombuffer(raw, dtype="<i2").astype(np.float64) / 32768.0


def envelope(samples: np.ndarray) -> np.ndarray:
    frames = samples[: len(samples) // WINDOW * WINDOW].reshape(-1, WINDOW)
    return np.sqrt((frames**2).mean(axis=1))


def speech_problems(samples: np.ndarray) -> list[str]:
    """Why this audio is not speech; empty if it is."""
    problems = []
    rms = float(np.sqrt((samples**2).mean())) if samples.size else 0.0
    if rms < 3 * SILENCE_RMS:
        problems.append(f"RMS {rms:.4f} is near silence")
    levels = envelope(samples)
    voiced = float((levels > SILENCE_RMS).mean()) if levels.size else 0.0
    # Speech pauses between words and sentences; a tone or noise never does.
    if not 0.35 <= voiced <= 0.97:
        problems.append(f"{voiced:.0%} of 50 ms windows are voiced")
    if levels.size and levels.std() / max(levels.mean(), 1e-9) < 0.4:
        problems.append("loudness barely varies")
    return problems


def band(image: Image.Image) -> np.ndarray:
    """The caption band, shrunk to 64x6 greyscale: enough to tell captions apart, blind to encoder noise."""
    crop = image.convert("L").crop((0, CAPTION_TOP, WIDTH, HEIGHT))
    return np.asarray(crop.resize((64, 6), Image.Resampling.BOX), dtype=np.float64)


def frame_at(video: Path, seconds: float) -> Image.Image:
    raw = subprocess.run(
        [FFMPEG, "-hide_banner", "-loglevel", "error", "-ss", f"{seconds:.3f}", "-i", str(video),
         "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        check=True, capture_output=True,
    ).stdout  # fmt: skip
    return Image.frombytes("RGB", (WIDTH, HEIGHT), raw)


def test_the_video_lasts_as_long_as_the_narration(briefing):
    _, narration, video = briefing
    spoken = probe(narration).duration_seconds
    assert 30 <= spoken <= 90
    assert abs(probe(video.path).duration_seconds - spoken) <= 1.0
    assert abs(video.duration_seconds - spoken) <= 1.0


def test_every_caption_is_burned_in_while_its_words_are_spoken(briefing):
    slides, _, video = briefing
    empty = band(render_slide_image(slides[0]))
    checked = 0
    start = 0.0
    for index, (slide, seconds) in enumerate(zip(slides, slide_durations(slides, video.duration_seconds))):
        chunks = split_captions(slide.narration, max_words=CAPTION_MAX_WORDS)
        drawn = []
        for chunk in chunks:
            image = render_slide_image(slide, index=index, count=len(slides))
            draw_caption(image, chunk)
            drawn.append(band(image))
        offset = start
        for which, chunk_seconds in enumerate(caption_durations(chunks, seconds)):
            seen = band(frame_at(video.path, offset + chunk_seconds / 2))
            distances = [float(np.abs(seen - d).mean()) for d in drawn]
            to_empty = float(np.abs(seen - empty).mean())
            assert int(np.argmin(distances)) == which, (chunks[which], distances)
            assert distances[which] < 4 and to_empty > 3 * distances[which], (chunks[which], distances, to_empty)
            offset += chunk_seconds
            checked += 1
        start += seconds
    assert checked >= len(slides)


def test_the_audio_is_speech_and_follows_the_narration(briefing):
    _, narration, video = briefing
    track, spoken = pcm(video.path), pcm(narration)
    assert speech_problems(track) == []
    # The MP4's AAC track rises and falls with the narration it was made from.
    a, b = envelope(track), envelope(spoken)
    n = min(len(a), len(b))
    assert n > 500
    assert float(np.corrcoef(a[:n], b[:n])[0, 1]) > 0.9


@pytest.mark.parametrize("source", ["anullsrc=r=16000:cl=mono", "sine=frequency=220:sample_rate=16000"])
def test_silence_and_a_steady_tone_are_not_speech(tmp_path, source):
    path = tmp_path / "control.wav"
    subprocess.run([FFMPEG, "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", source, "-t", "5", str(path)],
                   check=True)
    assert speech_problems(pcm(path)) != []
