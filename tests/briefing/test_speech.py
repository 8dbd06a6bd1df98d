import wave
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from shared.briefing.speech import EspeakSpeech, SpeechError, SpeechProvider, SpeechResult


@pytest.fixture(scope="module")
def speech() -> EspeakSpeech:
    return EspeakSpeech(voice="en-gb", rate_wpm=165)


def _wav_seconds(path: Path) -> float:
    with wave.open(str(path), "rb") as wav:
        assert wav.getnchannels() == 1
        assert wav.getsampwidth() == 2
        return wav.getnframes() / wav.getframerate()


def test_sentence_gives_a_valid_wav_of_plausible_length(speech: EspeakSpeech, tmp_path: Path) -> None:
    text = "Earl Grey Supreme is priced below the competitor median this morning."
    result = speech.synthesize(text, tmp_path / "out" / "sentence.wav")

    assert isinstance(result, SpeechResult)
    assert result.path.is_file()
    assert result.provider == "espeak-ng"
    assert result.voice == "en-gb"
    assert result.characters == len(text)
    with wave.open(str(result.path), "rb") as wav:
        assert wav.getframerate() == result.sample_rate
    assert _wav_seconds(result.path) == pytest.approx(result.duration_seconds, abs=1e-6)
    seconds_per_word = result.duration_seconds / len(text.split())
    assert 0.2 <= seconds_per_word <= 0.8


def test_longer_text_gives_longer_audio(speech: EspeakSpeech, tmp_path: Path) -> None:
    short = speech.synthesize("Prices are stable today.", tmp_path / "short.wav")
    long = speech.synthesize(
        "Prices are stable today, but two competitors cut their Darjeeling prices overnight "
        "and matcha interest keeps rising, so review those products before lunch.",
        tmp_path / "long.wav",
    )
    assert long.duration_seconds > short.duration_seconds * 2


def test_markup_characters_are_read_as_text_not_ssml(speech: EspeakSpeech, tmp_path: Path) -> None:
    plain = speech.synthesize("Price margin", tmp_path / "plain.wav")
    marked = speech.synthesize("Price <b>&</b> margin", tmp_path / "marked.wav")
    # Were the tags markup, they would be silent and the two would be the same length;
    # read as text, "less than b greater than and ..." takes well over half a second more.
    assert marked.duration_seconds > plain.duration_seconds + 0.5
    assert marked.characters == len("Price <b>&</b> margin")


@pytest.mark.parametrize("text", ["", "   \n\t ", "\x01\x02"])
def test_empty_text_is_a_clear_error(speech: EspeakSpeech, tmp_path: Path, text: str) -> None:
    out = tmp_path / "empty.wav"
    with pytest.raises(SpeechError, match="empty") as caught:
        speech.synthesize(text, out)
    assert caught.value.retryable is False
    assert not out.exists()


def test_unknown_voice_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SpeechError, match="no voice"):
        EspeakSpeech(voice="xx-nowhere").synthesize("Hello", tmp_path / "x.wav")


def test_rate_out_of_range_is_rejected() -> None:
    with pytest.raises(ValueError):
        EspeakSpeech(rate_wpm=20)


def test_concurrent_calls_do_not_mix_audio(speech: EspeakSpeech, tmp_path: Path) -> None:
    texts = ["One short line.", "A rather longer line about tea prices and stock levels.", "Two words."] * 2
    expected = [speech.synthesize(text, tmp_path / f"seq{i}.wav").duration_seconds for i, text in enumerate(texts)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = [pool.submit(speech.synthesize, text, tmp_path / f"par{i}.wav") for i, text in enumerate(texts)]
        results = [future.result() for future in futures]
    # espeak-ng varies by a few milliseconds run to run; mixed-up audio would be far off.
    assert [r.duration_seconds for r in results] == pytest.approx(expected, abs=0.05)


def test_espeak_speech_is_a_speech_provider() -> None:
    assert isinstance(EspeakSpeech(), SpeechProvider)
