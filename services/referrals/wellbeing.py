"""Personal wellbeing measures recorded at first contact and at follow-up, and the change.

ONS4: the Office for National Statistics' four personal wellbeing questions, each 0-10.
For life satisfaction, worthwhile and happiness higher is better; for anxiety lower is
better, so its improvement is the fall in score.

SWEMWBS: the Short Warwick-Edinburgh Mental Wellbeing Scale, seven items each 1-5. The
raw total (7-35) is converted to a metric score with the scale's published conversion
table before any comparison: raw totals are not interval data. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = [
    "ONS4_ITEMS",
    "STAGES",
    "SWEMWBS_METRIC",
    "InvalidMeasure",
    "WellbeingRecord",
    "change",
    "change_of",
    "swemwbs_metric",
    "validate_ons4",
    "validate_swemwbs",
]

STAGES = ("first_contact", "follow_up")
ONS4_ITEMS = ("life_satisfaction", "worthwhile", "happiness", "anxiety")
LOWER_IS_BETTER = frozenset({"anxiety"})
SWEMWBS_ITEMS = 7

#: Raw SWEMWBS total -> metric score (Stewart-Brown et al. 2009, Rasch-based conversion).
SWEMWBS_METRIC: dict[int, float] = {
    7: 7.00, 8: 9.51, 9: 11.25, 10: 12.40, 11: 13.33, 12: 14.08, 13: 14.75,
    14: 15.32, 15: 15.84, 16: 16.36, 17: 16.88, 18: 17.43, 19: 17.98, 20: 18.59,
    21: 19.25, 22: 19.98, 23: 20.73, 24: 21.54, 25: 22.35, 26: 23.21, 27: 24.11,
    28: 25.03, 29: 26.02, 30: 27.03, 31: 28.13, 32: 29.31, 33: 30.70, 34: 32.55,
    35: 35.00,
}  # fmt: skip


class InvalidMeasure(ValueError):
    """A score out of range or missing; ``field`` names where."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@dataclass(frozen=True)
class WellbeingRecord:
    stage: str
    ons4: Mapping[str, int]
    swemwbs: tuple[int, ...] | None = None

    @property
    def swemwbs_metric(self) -> float | None:
        return None if self.swemwbs is None else swemwbs_metric(self.swemwbs)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def validate_ons4(scores: Mapping[str, object]) -> dict[str, int]:
    unknown = sorted(set(scores) - set(ONS4_ITEMS))
    if unknown:
        raise InvalidMeasure(f"ons4.{unknown[0]}", f"not an ONS4 item; use {', '.join(ONS4_ITEMS)}")
    out = {}
    for item in ONS4_ITEMS:
        if item not in scores:
            raise InvalidMeasure(f"ons4.{item}", "required")
        value = scores[item]
        if value is None:
            raise InvalidMeasure(f"ons4.{item}", "not answered")
        if not _is_int(value) or not 0 <= value <= 10:  # type: ignore[operator]
            raise InvalidMeasure(f"ons4.{item}", f"must be a whole number 0-10, not {value!r}")
        out[item] = int(value)  # type: ignore[arg-type]
    return out


def validate_swemwbs(items: Sequence[object]) -> tuple[int, ...]:
    if len(items) != SWEMWBS_ITEMS:
        raise InvalidMeasure("swemwbs", f"needs exactly {SWEMWBS_ITEMS} items, got {len(items)}")
    for i, value in enumerate(items):
        if value is None:
            raise InvalidMeasure(f"swemwbs.{i}", "not answered: answer all 7 items, or none")
        if not _is_int(value) or not 1 <= value <= 5:  # type: ignore[operator]
            raise InvalidMeasure(f"swemwbs.{i}", f"must be a whole number 1-5, not {value!r}")
    return tuple(int(v) for v in items)  # type: ignore[arg-type]


def swemwbs_metric(items: Sequence[int]) -> float:
    return SWEMWBS_METRIC[sum(validate_swemwbs(items))]


def change_of(records: Mapping[str, WellbeingRecord]) -> dict | None:
    """The change from first contact to follow-up, once both are recorded."""
    if "first_contact" in records and "follow_up" in records:
        return change(records["first_contact"], records["follow_up"])
    return None


def change(first: WellbeingRecord, follow_up: WellbeingRecord) -> dict:
    """Per ONS4 item the difference (follow-up minus first) and whether it improved; the
    SWEMWBS metric difference when both stages have one."""
    ons4 = {}
    for item in ONS4_ITEMS:
        diff = follow_up.ons4[item] - first.ons4[item]
        better = -diff if item in LOWER_IS_BETTER else diff
        ons4[item] = {
            "from": first.ons4[item],
            "to": follow_up.ons4[item],
            "difference": diff,
            "improved": better > 0,
            "lower_is_better": item in LOWER_IS_BETTER,
        }
    metric = None
    if first.swemwbs_metric is not None and follow_up.swemwbs_metric is not None:
        metric = {
            "from": first.swemwbs_metric,
            "to": follow_up.swemwbs_metric,
            "difference": round(follow_up.swemwbs_metric - first.swemwbs_metric, 2),
        }
    return {"ons4": ons4, "swemwbs_metric": metric}
