"""State one request's rendering shares: the model, the date rules apply as of, estimate reasons."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from tokcount_core.limits import ImageHints, Limits, TooLarge
from tokcount_core.models import ModelSpec
from tokcount_core.render.segments import Segment


@dataclass
class RenderContext:
    spec: ModelSpec
    api: str
    as_of: date | None
    limits: Limits
    image_hints: ImageHints
    segments: list[Segment] = field(default_factory=list)
    reasons: set[str] = field(default_factory=set)
    # Ids of the rules used, in order (rules.py), each with whether a use of it was unverified.
    rules: dict[str, bool] = field(default_factory=dict)
    files: int = 0  # files seen so far: only the first one pays the full file framing
    images: int = 0
    items: int = 0  # messages and content parts rendered so far
    # The request's features and those of them outside the reference cases' evidence (coverage.py).
    features: set[str] = field(default_factory=set)
    outside_evidence: list[str] = field(default_factory=list)

    def before(self, day: date) -> bool:
        """Whether the request was made before ``day`` (undated requests follow today's rules)."""
        return self.as_of is not None and self.as_of < day

    def estimate(self, reason: str) -> None:
        self.reasons.add(reason)

    def count_items(self, n: int, label: str) -> None:
        self.items += n
        if self.items > self.limits.max_items:
            raise TooLarge(f"{label}: more than {self.limits.max_items} messages and parts")
