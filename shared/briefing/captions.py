"""Caption chunks and timing: how long each slide and each caption shows.

Slide time is proportional to the length of its narration, caption time to the length
of its chunk, and the parts always add up to the whole exactly.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shared.briefing.slides import Slide

_SENTENCE_END = re.compile(r"[.!?\u2026][\"'\u2019\u201d)\]]*$")
_CLAUSE_END = re.compile(r"[,;:][\"'\u2019\u201d)\]]*$")
_DASHES = {"-", "\u2013", "\u2014"}


def _spoken_length(text: str) -> int:
    """Characters with whitespace collapsed: a fair proxy for speaking time."""
    return len(" ".join(text.split()))


def _balanced_split(words: list[str], max_words: int) -> list[list[str]]:
    parts = math.ceil(len(words) / max_words)
    size = math.ceil(len(words) / parts)
    return [words[i : i + size] for i in range(0, len(words), size)]


def _split_sentence(words: list[str], max_words: int) -> list[list[str]]:
    if len(words) <= max_words:
        return [words]
    clauses: list[list[str]] = [[]]
    for word in words:
        if word in _DASHES and clauses[-1]:
            clauses.append([word])  # a dash opens the next clause
            continue
        clauses[-1].append(word)
        if _CLAUSE_END.search(word):
            clauses.append([])
    chunks: list[list[str]] = []
    for clause in (c for c in clauses if c):
        if len(clause) > max_words:
            chunks.extend(_balanced_split(clause, max_words))
        elif chunks and len(chunks[-1]) + len(clause) <= max_words:
            chunks[-1].extend(clause)
        else:
            chunks.append(list(clause))
    return chunks


def split_captions(narration: str, *, max_words: int = 14, min_words: int = 5) -> list[str]:
    """Split narration into caption chunks of at most `max_words` words.

    Breaks at sentence ends, then at clause punctuation, then evenly; chunks shorter
    than `min_words` join a neighbour when the result still fits. Every word is kept,
    in order.
    """
    if max_words < 1 or min_words < 0:
        raise ValueError("max_words must be positive and min_words non-negative")
    sentences: list[list[str]] = [[]]
    for word in narration.split():
        sentences[-1].append(word)
        if _SENTENCE_END.search(word):
            sentences.append([])
    pieces = [chunk for sentence in sentences if sentence for chunk in _split_sentence(sentence, max_words)]

    merged: list[list[str]] = []
    for piece in pieces:
        if (
            merged
            and (len(piece) < min_words or len(merged[-1]) < min_words)
            and (len(merged[-1]) + len(piece) <= max_words)
        ):
            merged[-1] = merged[-1] + piece
        else:
            merged.append(piece)
    return [" ".join(chunk) for chunk in merged]


def _proportional(weights: Sequence[float], total: float) -> list[float]:
    """Split `total` in proportion to `weights`; the parts add up to `total` exactly."""
    weight_sum = sum(weights)
    if weight_sum <= 0:
        raise ValueError("weights must have a positive sum")
    parts = [total * weight / weight_sum for weight in weights[:-1]]
    parts.append(total - sum(parts))  # absorb rounding in the last part
    return parts


def slide_durations(slides: Sequence[Slide], total_seconds: float) -> list[float]:
    """Seconds per slide, proportional to narration length, summing to `total_seconds`."""
    if not slides:
        raise ValueError("no slides")
    if total_seconds <= 0:
        raise ValueError("total_seconds must be positive")
    return _proportional([_spoken_length(slide.narration) for slide in slides], total_seconds)


def caption_durations(chunks: Sequence[str], slide_seconds: float) -> list[float]:
    """Seconds per caption chunk, proportional to its length, summing to `slide_seconds`."""
    if not chunks:
        raise ValueError("no caption chunks")
    return _proportional([max(1, _spoken_length(chunk)) for chunk in chunks], slide_seconds)
