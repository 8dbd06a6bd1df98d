"""Small questions about one element: its value, and whether it is struck through."""

from __future__ import annotations

from selectolax.lexbor import LexborNode


STRUCK_TAGS = frozenset({"del", "s", "strike"})


def attribute_value(node: LexborNode) -> str | None:
    attrs = node.attributes
    for key in ("content", "value", "data-price", "data-value"):
        value = attrs.get(key)
        if value is not None and value.strip():
            return value
    if node.tag in ("link", "a"):
        return attrs.get("href")
    return node.text(deep=True, separator=" ", strip=True)


def is_struck(node: LexborNode, depth: int = 4) -> bool:
    current: LexborNode | None = node
    for _ in range(depth):
        if current is None:
            return False
        if current.tag in STRUCK_TAGS:
            return True
        current = current.parent
    return False
