"""The README's fenced code blocks, read the way a reader copies them."""

from __future__ import annotations

import re
from pathlib import Path

import attrs

README = Path(__file__).resolve().parents[2] / "README.md"

_FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)


@attrs.frozen
class Block:
    """One fenced block: its language tag, its text, and the heading it sits under."""

    lang: str
    code: str
    heading: str


def blocks(lang: str | None = None) -> list[Block]:
    """The README's fenced blocks in order (only those tagged ``lang`` when given)."""
    text = README.read_text(encoding="utf-8")
    found = []
    for match in _FENCE.finditer(text):
        headings = re.findall(r"^#+ (.+)$", text[: match.start()], re.MULTILINE)
        block = Block(match.group(1), match.group(2), headings[-1] if headings else "")
        if lang is None or block.lang == lang:
            found.append(block)
    return found


def block_under(heading: str, lang: str) -> Block:
    """The one ``lang`` block under ``heading``."""
    (block,) = [b for b in blocks(lang) if b.heading == heading]
    return block
