import subprocess
import wave
from pathlib import Path

import imageio_ffmpeg
import pytest

from shared.briefing.media_probe import MediaProbeError, parse_ffmpeg_description, probe

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()


@pytest.fixture(scope="module")
def sample_mp4(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("probe") / "sample.mp4"
    subprocess.run(
        [
            FFMPEG, "-hide_banner", "-loglevel", "error", "-y",
            "-f", "lavfi", "-i", "testsrc=size=320x240:rate=5",
            "-f", "lavfi", "-i", "sine=frequency=440:duration=2",
            "-t", "2", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", str(out),
        ],
        check=True,
    )  # fmt: skip
    return out


def test_probe_reports_streams_and_duration_of_an_mp4(sample_mp4: Path) -> None:
    info = probe(sample_mp4)
    assert info.duration_seconds == pytest.approx(2.0, abs=0.1)
    assert [(s.index, s.kind, s.codec) for s in info.streams] == [(0, "video", "h264"), (1, "audio", "aac")]
    video = info.of_kind("video")[0]
    assert (video.width, video.height) == (320, 240)
    assert info.of_kind("audio")[0].width is None


def test_probe_reads_a_wav(tmp_path: Path) -> None:
    path = tmp_path / "tone.wav"
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(16000)
        wav.writeframes(b"\x00\x00" * 16000 * 3)
    info = probe(path)
    assert info.duration_seconds == pytest.approx(3.0, abs=0.02)
    assert [(s.kind, s.codec) for s in info.streams] == [("audio", "pcm_s16le")]


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(MediaProbeError, match="not found"):
        probe(tmp_path / "absent.mp4")


def test_unreadable_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "garbage.mp4"
    path.write_text("this is not a video")
    with pytest.raises(MediaProbeError, match="cannot read"):
        probe(path)


def test_directory_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(MediaProbeError, match="not a regular file"):
        probe(tmp_path)


def test_parser_ignores_codec_tags_and_nested_commas() -> None:
    stderr = (
        "Input #0, mov,mp4,m4a,3gp,3g2,mj2, from 'x.mp4':\n"
        "  Duration: 01:02:03.45, start: 0.000000, bitrate: 151 kb/s\n"
        "  Stream #0:0[0x1](eng): Video: h264 (High) (avc1 / 0x31637661), yuv420p(tv, bt709, progressive), "
        "1920x1080 [SAR 1:1 DAR 16:9], 68 kb/s, 25 fps (default)\n"
        "  Stream #0:1[0x2](und): Audio: aac (LC) (mp4a / 0x6134706D), 48000 Hz, stereo, fltp, 128 kb/s (default)\n"
        "  Stream #0:2[0x3](eng): Subtitle: mov_text (tx3g / 0x67337874), 0 kb/s\n"
        "At least one output file must be specified\n"
    )
    info = parse_ffmpeg_description(Path("x.mp4"), stderr)
    assert info.duration_seconds == pytest.approx(3723.45)
    assert [(s.kind, s.codec, s.width, s.height) for s in info.streams] == [
        ("video", "h264", 1920, 1080),
        ("audio", "aac", None, None),
        ("subtitle", "mov_text", None, None),
    ]


def test_parser_handles_missing_duration() -> None:
    stderr = (
        "Input #0, png_pipe, from 'a.png':\n"
        "  Duration: N/A, bitrate: N/A\n"
        "  Stream #0:0: Video: png, rgb24(pc), 900x200, 25 fps\n"
    )
    info = parse_ffmpeg_description(Path("a.png"), stderr)
    assert info.duration_seconds is None
    assert info.streams[0].width == 900
