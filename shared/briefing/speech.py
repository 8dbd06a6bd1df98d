"""Text-to-speech for the daily briefing.

`SpeechProvider` is the seam: the offline `EspeakSpeech` implements it today and a
cloud provider (ElevenLabs) can implement it later with the same result type.
"""

from __future__ import annotations

import ctypes
import os
import re
import tempfile
import threading
import unicodedata
import wave
from pathlib import Path
from typing import Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field


class SpeechResult(BaseModel):
    """A finished narration file and the facts callers need (timing, billing)."""

    model_config = ConfigDict(frozen=True)

    path: Path
    duration_seconds: float = Field(gt=0)
    characters: int = Field(ge=1, description="characters sent to the engine (what cloud TTS bills)")
    provider: str
    voice: str
    sample_rate: int = Field(gt=0)


class SpeechError(Exception):
    """Synthesis failed; `retryable` says whether trying again may succeed."""

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


@runtime_checkable
class SpeechProvider(Protocol):
    def synthesize(self, text: str, out_path: Path) -> SpeechResult:
        """Speak `text` (plain text, never markup) into an audio file at `out_path`."""
        ...


# --- espeak-ng C API constants (speak_lib.h) -------------------------------------
_AUDIO_OUTPUT_SYNCHRONOUS = 2  # espeak_Synth blocks and hands PCM to our callback
_INITIALIZE_DONT_EXIT = 0x8000  # report data errors instead of calling exit()
_CHARS_UTF8 = 0x1
_ENDPAUSE = 0x1000  # short silence at the end, so the last word is not clipped
_POS_CHARACTER = 1
_PARAM_RATE = 1
_PARAM_PUNCTUATION = 5
_PUNCT_NONE = 0
_EE_OK = 0
_EE_BUFFER_FULL = 1
_CALLBACK_BUFFER_MS = 500

_MIN_RATE_WPM = 80
_MAX_RATE_WPM = 450

_HORIZONTAL_SPACE = re.compile(r"[^\S\n]+")


class _EspeakVoice(ctypes.Structure):
    _fields_ = [  # noqa: RUF012 - ctypes reads this plain class attribute
        ("name", ctypes.c_char_p),
        ("languages", ctypes.c_char_p),
        ("identifier", ctypes.c_char_p),
        ("gender", ctypes.c_ubyte),
        ("age", ctypes.c_ubyte),
        ("variant", ctypes.c_ubyte),
        ("xx1", ctypes.c_ubyte),
        ("score", ctypes.c_int),
        ("spare", ctypes.c_void_p),
    ]


_SynthCallback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


class _EspeakEngine:
    """The one espeak-ng instance of this process.

    espeak-ng keeps its voice, parameters and callback in globals, so every use goes
    through one lock and the library is initialised exactly once.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lib: ctypes.CDLL | None = None
        self._sample_rate = 0
        self._chunks: list[bytes] = []
        # Kept on the instance: ctypes frees a callback whose Python object dies.
        self._callback = _SynthCallback(self._on_audio)

    def _on_audio(self, wav: ctypes._Pointer[ctypes.c_short] | None, num_samples: int, _events: int) -> int:
        if wav and num_samples > 0:
            self._chunks.append(ctypes.string_at(wav, num_samples * 2))
        return 0  # 0 = keep going

    def _ensure_initialised(self) -> ctypes.CDLL:
        if self._lib is not None:
            return self._lib
        try:
            import espeakng_loader

            lib = ctypes.CDLL(espeakng_loader.get_library_path())
            data_path = espeakng_loader.get_data_path()
        except (ImportError, OSError, RuntimeError) as exc:
            raise SpeechError(f"espeak-ng library is not available: {exc}") from exc

        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetSynthCallback.argtypes = [_SynthCallback]
        lib.espeak_SetSynthCallback.restype = None
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetVoiceByProperties.argtypes = [ctypes.POINTER(_EspeakVoice)]
        lib.espeak_SetVoiceByProperties.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_Synth.argtypes = [
            ctypes.c_void_p,  # text
            ctypes.c_size_t,  # size in bytes, including the terminator
            ctypes.c_uint,  # position
            ctypes.c_int,  # position type
            ctypes.c_uint,  # end position (0 = to the end)
            ctypes.c_uint,  # flags
            ctypes.c_void_p,  # unique identifier (unused)
            ctypes.c_void_p,  # user data (unused)
        ]
        lib.espeak_Synth.restype = ctypes.c_int
        lib.espeak_Synchronize.argtypes = []
        lib.espeak_Synchronize.restype = ctypes.c_int

        sample_rate = lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS, _CALLBACK_BUFFER_MS, data_path.encode(), _INITIALIZE_DONT_EXIT
        )
        if sample_rate <= 0:
            raise SpeechError(f"espeak_Initialize failed (returned {sample_rate}) with data at {data_path}")
        lib.espeak_SetSynthCallback(self._callback)
        self._lib = lib
        self._sample_rate = sample_rate
        return lib

    @staticmethod
    def _select_voice(lib: ctypes.CDLL, voice: str) -> None:
        # By name first ("en", "English (Great Britain)"), then as a language tag
        # ("en-gb"), which is how espeak-ng 1.52 finds the British voice.
        encoded = voice.encode()
        if lib.espeak_SetVoiceByName(encoded) == _EE_OK:
            return
        spec = _EspeakVoice(languages=encoded)
        if lib.espeak_SetVoiceByProperties(ctypes.byref(spec)) != _EE_OK:
            raise SpeechError(f"espeak-ng has no voice or language {voice!r}")

    def synthesize(self, text: str, voice: str, rate_wpm: int) -> tuple[bytes, int]:
        """Return (16-bit mono little-endian PCM, sample rate)."""
        with self._lock:
            lib = self._ensure_initialised()
            self._select_voice(lib, voice)
            lib.espeak_SetParameter(_PARAM_RATE, rate_wpm, 0)
            lib.espeak_SetParameter(_PARAM_PUNCTUATION, _PUNCT_NONE, 0)
            payload = ctypes.create_string_buffer(text.encode("utf-8"))  # NUL-terminated
            self._chunks = []
            try:
                # No espeakSSML / espeakPHONEMES flag: the text is read literally.
                status = lib.espeak_Synth(
                    payload, ctypes.sizeof(payload), 0, _POS_CHARACTER, 0, _CHARS_UTF8 | _ENDPAUSE, None, None
                )
                if status != _EE_OK:
                    raise SpeechError(f"espeak_Synth failed with status {status}", retryable=status == _EE_BUFFER_FULL)
                lib.espeak_Synchronize()
                pcm = b"".join(self._chunks)
            finally:
                self._chunks = []
            return pcm, self._sample_rate


_ENGINE = _EspeakEngine()


def _clean_text(text: str) -> str:
    """Drop control/format characters and tidy whitespace; keep newlines for pauses.

    Control characters must go because espeak-ng treats 0x01 as the start of an
    embedded command even without SSML. '<' and '&' stay: with the SSML flag off
    espeak-ng reads them as words ("less than", "and"), never as markup.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    kept = "".join(ch if ch == "\n" or unicodedata.category(ch) not in ("Cc", "Cf") else " " for ch in text)
    kept = _HORIZONTAL_SPACE.sub(" ", kept)
    return "\n".join(line.strip() for line in kept.split("\n")).strip()


def _write_wav_atomically(out_path: Path, pcm: bytes, sample_rate: int) -> None:
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out_path.name}.", suffix=".partial", dir=out_path.parent)
    try:
        with os.fdopen(fd, "wb") as raw, wave.open(raw, "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(sample_rate)
            wav.writeframes(pcm)
        os.replace(tmp_name, out_path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


class EspeakSpeech:
    """Offline speech through the espeak-ng library shipped in the `espeakng-loader` wheel."""

    provider_name = "espeak-ng"

    def __init__(self, voice: str = "en-gb", rate_wpm: int = 165, max_characters: int = 20_000) -> None:
        if not _MIN_RATE_WPM <= rate_wpm <= _MAX_RATE_WPM:
            raise ValueError(f"rate_wpm must be between {_MIN_RATE_WPM} and {_MAX_RATE_WPM}, got {rate_wpm}")
        if max_characters < 1:
            raise ValueError("max_characters must be positive")
        self.voice = voice
        self.rate_wpm = rate_wpm
        self.max_characters = max_characters

    def synthesize(self, text: str, out_path: Path | str) -> SpeechResult:
        out_path = Path(out_path)
        spoken = _clean_text(text)
        if not spoken:
            raise SpeechError("nothing to synthesize: the text is empty")
        if len(spoken) > self.max_characters:
            raise SpeechError(f"text has {len(spoken)} characters, more than the limit of {self.max_characters}")

        pcm, sample_rate = _ENGINE.synthesize(spoken, self.voice, self.rate_wpm)
        if not pcm:
            raise SpeechError("espeak-ng produced no audio")
        try:
            _write_wav_atomically(out_path, pcm, sample_rate)
        except OSError as exc:
            raise SpeechError(f"cannot write {out_path}: {exc}", retryable=True) from exc

        return SpeechResult(
            path=out_path,
            duration_seconds=len(pcm) / 2 / sample_rate,
            characters=len(spoken),
            provider=self.provider_name,
            voice=self.voice,
            sample_rate=sample_rate,
        )
