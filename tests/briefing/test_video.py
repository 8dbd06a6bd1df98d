import os
import stat
import subprocess
from decimal import Decimal
from pathlib import Path

import imageio_ffmpeg
import pytest
from PIL import Image
from pydantic import ValidationError

from shared.briefing.media_probe import probe
from shared.briefing.speech import EspeakSpeech
from shared.briefing.captions import caption_durations, slide_durations, split_captions
from shared.briefing.slides import (
    PricePositionChart,
    Slide,
    StockCoverChart,
    StockCoverItem,
    TrendChart,
    format_money,
    render_slide_image,
)
from shared.briefing.video import LocalVideoRenderer, VideoError, VideoRenderer

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
BRAND = (0x42, 0x7F, 0x8C)  # #427F8C, the shop's brand colour

SLIDES = [
    Slide(
        kind="title",
        heading="Your pricing briefing",
        body_lines=["Tuesday 4 March", "Hartley & Finch Tea Co."],
        narration="Good morning, here is your briefing.",
    ),
    Slide(
        kind="insight",
        heading="Earl Grey is below the market",
        body_lines=["You charge £12.50", "Median rival: £14.20"],
        chart=PricePositionChart(
            current_price="12.50",
            recommended_price="13.75",
            cost="8.60",
            competitor_min="11.99",
            competitor_median="14.20",
            competitor_max="17.50",
        ),
        narration="Earl Grey sits below the median, so raise it.",
    ),
    Slide(
        kind="insight",
        heading="Matcha interest is rising",
        chart=TrendChart(points=[("Jan", 52), ("Feb", 63), ("Mar", 72)], y_label="Search interest"),
        narration="Matcha searches rose for eight weeks.",
    ),
    Slide(
        kind="actions",
        heading="Today's actions",
        body_lines=["Raise Earl Grey to £13.75", "Reorder Assam <500g> & matcha"],
        chart=StockCoverChart(
            threshold_days=14,
            items=[StockCoverItem(name="Assam", days_of_cover=5), StockCoverItem(name="Darjeeling", days_of_cover=21)],
        ),
        narration="Reorder Assam today. That is all.",
    ),
]


@pytest.fixture(scope="module")
def narration(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("narration") / "narration.wav"
    EspeakSpeech(rate_wpm=190).synthesize(" ".join(slide.narration for slide in SLIDES), out)
    return out


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory, narration: Path):
    out = tmp_path_factory.mktemp("video") / "briefing.mp4"
    result = LocalVideoRenderer(fps=4).render(SLIDES, narration, out)
    return result, out


def _thumbnail_of_frame(video: Path, seconds: float) -> bytes:
    """The slide area (caption band cropped off) of the frame at `seconds`, as 32x15 RGB."""
    return subprocess.run(
        [FFMPEG, "-hide_banner", "-loglevel", "error", "-ss", f"{seconds:.3f}", "-i", str(video),
         "-frames:v", "1", "-vf", "crop=1280:600:0:0,scale=32:15:flags=area",
         "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        check=True, capture_output=True,
    ).stdout  # fmt: skip


def _thumbnail_of_slide(slide: Slide, index: int) -> bytes:
    image = render_slide_image(slide, index=index, count=len(SLIDES))
    return image.crop((0, 0, 1280, 600)).resize((32, 15), Image.Resampling.BOX).tobytes()


def _distance(a: bytes, b: bytes) -> float:
    return sum(abs(x - y) for x, y in zip(a, b)) / len(a)


def test_render_gives_one_h264_720p_stream_and_one_aac_stream(rendered, narration: Path) -> None:
    result, out = rendered
    audio_seconds = probe(narration).duration_seconds
    info = probe(out)

    videos, audios = info.of_kind("video"), info.of_kind("audio")
    assert len(videos) == 1 and len(audios) == 1 and len(info.streams) == 2
    assert (videos[0].codec, videos[0].width, videos[0].height) == ("h264", 1280, 720)
    assert audios[0].codec == "aac"
    assert info.duration_seconds == pytest.approx(audio_seconds, abs=0.3)
    assert result.path == out
    assert (result.width, result.height, result.video_codec, result.audio_codec) == (1280, 720, "h264", "aac")
    assert result.slide_count == len(SLIDES)
    assert result.duration_seconds == pytest.approx(audio_seconds, abs=0.3)
    assert [p.name for p in out.parent.iterdir()] == [out.name]  # no partial files left behind


def test_each_slide_shows_during_its_share_of_the_narration(rendered) -> None:
    result, out = rendered
    slides = [_thumbnail_of_slide(slide, i) for i, slide in enumerate(SLIDES)]
    start = 0.0
    for index, seconds in enumerate(slide_durations(SLIDES, result.duration_seconds)):
        frame = _thumbnail_of_frame(out, start + seconds / 2)
        distances = [_distance(frame, slide) for slide in slides]
        assert min(range(len(slides)), key=distances.__getitem__) == index, distances
        start += seconds


def test_slide_image_uses_the_brand_colour(tmp_path: Path) -> None:
    path = tmp_path / "slide.png"
    render_slide_image(SLIDES[1], index=1, count=4, caption="Earl Grey sits below the median").save(path)
    with Image.open(path) as image:
        assert image.size == (1280, 720)
        colours = image.convert("RGB").getcolors(maxcolors=1280 * 720) or []
        brand_pixels = sum(count for count, colour in colours if colour == BRAND)
    assert brand_pixels > 0.05 * 1280 * 720


def test_long_narration_is_split_into_short_captions_keeping_every_word() -> None:
    narration = (
        "Good morning. Earl Grey Supreme sells at twelve pounds fifty, while the competitor median is "
        "fourteen pounds twenty, and the cheapest rival charges eleven ninety nine. "
        "Raising it to thirteen seventy five keeps you under the median and lifts the margin by four points "
        "without any change in your position against the three closest rivals in the market this week."
    )
    chunks = split_captions(narration)
    assert len(chunks) >= 5
    assert all(1 <= len(chunk.split()) <= 14 for chunk in chunks)
    assert " ".join(chunks).split() == narration.split()


def test_captions_break_at_sentence_ends() -> None:
    first = "Assam Breakfast has five days of stock left today."
    second = "Matcha has about nine days left before it runs out."
    assert split_captions(f"{first} {second}") == [first, second]


def test_slide_and_caption_timings_sum_to_the_audio_duration() -> None:
    total = 17.3456
    durations = slide_durations(SLIDES, total)
    assert len(durations) == len(SLIDES)
    assert sum(durations) == pytest.approx(total, abs=1e-9)
    assert all(d > 0 for d in durations)
    # Each slide's share of the time is its share of the narration.
    lengths = [len(" ".join(slide.narration.split())) for slide in SLIDES]
    for seconds, length in zip(durations, lengths):
        assert seconds / total == pytest.approx(length / sum(lengths), abs=1e-9)
    for slide, seconds in zip(SLIDES, durations):
        chunks = split_captions(slide.narration)
        assert sum(caption_durations(chunks, seconds)) == pytest.approx(seconds, abs=1e-9)


def _fake_ffmpeg(tmp_path: Path) -> str:
    """An 'ffmpeg' that writes half a file to its output, lists the output folder
    (what a run killed at that moment would leave), then fails."""
    script = tmp_path / "fake-ffmpeg"
    script.write_text(
        "#!/bin/sh\n"
        "for last; do :; done\n"
        'printf "half an mp4" > "$last"\n'
        'if [ -n "$FAKE_FFMPEG_SNAPSHOT" ]; then ls -A "$(dirname "$last")" > "$FAKE_FFMPEG_SNAPSHOT"; fi\n'
        'echo "encoder exploded" >&2\n'
        "exit 1\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return str(script)


def test_ffmpeg_failure_leaves_nothing_at_out_path(
    tmp_path: Path, narration: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out_dir = tmp_path / "videos"
    out_dir.mkdir()
    out = out_dir / "briefing.mp4"
    snapshot = tmp_path / "during-encode.txt"
    monkeypatch.setenv("FAKE_FFMPEG_SNAPSHOT", str(snapshot))
    renderer = LocalVideoRenderer(fps=2, ffmpeg_exe=_fake_ffmpeg(tmp_path))

    with pytest.raises(VideoError, match="encoder exploded") as caught:
        renderer.render(SLIDES, narration, out)

    assert caught.value.retryable is False
    # Even mid-encode the half-written file lives under another name, so a killed run
    # cannot leave it at out_path ...
    during = snapshot.read_text().split()
    assert len(during) == 1 and during[0] != out.name
    # ... and a failed run cleans it up.
    assert not out.exists()
    assert list(out_dir.iterdir()) == []


def test_ffmpeg_failure_keeps_a_previous_video(tmp_path: Path, narration: Path) -> None:
    out = tmp_path / "briefing.mp4"
    out.write_bytes(b"yesterday's video")
    with pytest.raises(VideoError):
        LocalVideoRenderer(fps=2, ffmpeg_exe=_fake_ffmpeg(tmp_path)).render(SLIDES, narration, out)
    assert out.read_bytes() == b"yesterday's video"
    assert sorted(os.listdir(tmp_path)) == ["briefing.mp4", "fake-ffmpeg"]


def test_missing_audio_is_a_video_error(tmp_path: Path) -> None:
    with pytest.raises(VideoError, match="not found"):
        LocalVideoRenderer().render(SLIDES, tmp_path / "absent.wav", tmp_path / "out.mp4")


def test_slides_need_narration_and_ordered_competitor_prices() -> None:
    with pytest.raises(ValidationError):
        Slide(kind="insight", heading="Silent", narration="   ")
    with pytest.raises(ValidationError):
        PricePositionChart(
            current_price=10, recommended_price=11, competitor_min=12, competitor_median=9, competitor_max=15
        )


def test_charts_draw_unknown_values_as_gaps_not_zeros() -> None:
    charts = [
        TrendChart(points=[("Jan", 40), ("Feb", None), ("Mar", 51)]),
        PricePositionChart(current_price="9.99", cost="5.20"),
        StockCoverChart(threshold_days=14, items=[StockCoverItem(name="Slow seller", days_of_cover=None)]),
    ]
    for chart in charts:
        image = render_slide_image(
            Slide(kind="insight", heading="Unknowns", chart=chart, narration="Some data is missing.")
        )
        assert image.size == (1280, 720)
    with pytest.raises(ValidationError):
        TrendChart(points=[("Jan", None), ("Feb", None)])


def test_money_is_pounds_with_two_decimals() -> None:
    assert format_money(Decimal("1234.5")) == "£1,234.50"
    assert format_money(0) == "£0.00"
    assert format_money(-3.456) == "-£3.46"


def test_local_renderer_is_a_video_renderer() -> None:
    assert isinstance(LocalVideoRenderer(), VideoRenderer)
