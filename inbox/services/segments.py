"""SMS segment counting: GSM-7 (160 / 153 per part, extension characters cost 2)
or UCS-2 (70 / 67 per part, astral characters such as most emoji cost 2). A
2-unit character never straddles two parts. Used by the composer and the sender."""

from __future__ import annotations

from dataclasses import dataclass

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")

GSM7 = "GSM-7"
UCS2 = "UCS-2"
MAX_SEGMENTS = 6


@dataclass(frozen=True)
class SegmentInfo:
    encoding: str
    units: int
    segments: int
    per_segment: int

    @property
    def unicode(self) -> bool:
        return self.encoding == UCS2

    @property
    def too_long(self) -> bool:
        return self.segments > MAX_SEGMENTS

    @property
    def label(self) -> str:
        return "1 text" if self.segments <= 1 else f"{self.segments} texts"


def is_gsm7(text: str) -> bool:
    return all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in text)


def _unit_costs(text: str) -> tuple[str, list[int]]:
    if is_gsm7(text):
        return GSM7, [2 if c in GSM7_EXTENSION else 1 for c in text]
    return UCS2, [2 if ord(c) > 0xFFFF else 1 for c in text]


def _split_costs(costs: list[int], per_part: int) -> list[tuple[int, int]]:
    """(start, end) character ranges, each at most per_part units."""
    ranges, start, used = [], 0, 0
    for i, cost in enumerate(costs):
        if used + cost > per_part:
            ranges.append((start, i))
            start, used = i, 0
        used += cost
    ranges.append((start, len(costs)))
    return ranges


def count(text: str) -> SegmentInfo:
    encoding, costs = _unit_costs(text)
    units = sum(costs)
    single, multi = (160, 153) if encoding == GSM7 else (70, 67)
    if units <= single:
        return SegmentInfo(encoding, units, 1 if units else 0, single)
    return SegmentInfo(encoding, units, len(_split_costs(costs, multi)), multi)


def split(text: str) -> list[str]:
    """The parts a carrier sends for a long text (one part for a short one)."""
    encoding, costs = _unit_costs(text)
    single, multi = (160, 153) if encoding == GSM7 else (70, 67)
    if sum(costs) <= single:
        return [text]
    return [text[a:b] for a, b in _split_costs(costs, multi)]
