"""Image token cost from width, height and ``detail``: OpenAI's tile and patch formulas, exactly.

All arithmetic is on integers and ``Fraction``s, so a cost never depends on float rounding.
Sources: OpenAI docs "Images and vision", section "Calculating costs" (cited as *docs*), and the
reference README rule 6 (cited as *rule 6*).
"""

from __future__ import annotations

from fractions import Fraction
from math import isqrt

from tokcount_core.models import ImageFormula

# docs, tile models: "scaled to fit within a 2048 x 2048 square", "scaled such that the shortest
# side of the image is 768px long", "count how many 512px squares the image consists of".
FIT_SQUARE = 2048
SHORT_SIDE = 768
TILE = 512
# docs, patch models: "32px x 32px patches", capped by ImageFormula.max_patches (1536).
PATCH = 32
# Details OpenAI accepts; anything else is counted as "auto" (= "high", rule 6).
DETAILS = frozenset({"auto", "high", "low", "original"})


def image_tokens(formula: ImageFormula, width: int, height: int, detail: str) -> int:
    """Tokens one image costs on a model with ``formula``.

    Tile models: ``detail="low"`` costs ``base``; every other detail ("auto", "high", unknown ones,
    and "original", whose cost OpenAI does not document: counted as "high") costs
    ``base + per_tile * tiles``.
    Patch models ignore ``detail``: OpenAI documents no low-detail rule for them and measured counts
    are the same for "low" and "high" (OpenAI community forum, "Vision: more than one way to send a
    request", 128x64 image on gpt-4.1-mini/-nano and o4-mini).
    """
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    if formula.kind == "tile":
        if detail == "low":
            return formula.base
        return formula.base + formula.per_tile * tile_count(width, height)
    if formula.kind == "patch":
        scaled = Fraction(patch_count(width, height, formula.max_patches) * formula.numerator,
                          formula.denominator)
        return _round(scaled, formula.rounding) + formula.offset
    raise ValueError(f"unknown image formula kind {formula.kind!r}")


def tile_count(width: int, height: int) -> int:
    """512px tiles after the docs' two downscales (each only when the image is larger).

    A scaled side is rounded to the nearest pixel (ties to even, as Python's ``round``): measured
    on gpt-4.1, 2049x513 bills 8 tiles (513 * 2048/2049 = 512.75 -> 513) and 2050x513 bills 4
    (512.4998 -> 512), which neither truncation nor ceiling explains (OpenAI community forum,
    "Vision Pricing calculator: inaccurate resizing/rounding vs API costs").
    """
    width, height = _fit_square(width, height, FIT_SQUARE)
    short, long = sorted((width, height))
    if short > SHORT_SIDE:
        long, short = _scaled(long, SHORT_SIDE, short), SHORT_SIDE
    return _ceil_div(short, TILE) * _ceil_div(long, TILE)


def patch_count(width: int, height: int, max_patches: int = 1536) -> int:
    """32px patches, shrunk per the docs when over ``max_patches``; always in 1..max_patches.

    Docs algorithm: shrink = sqrt(max * 32^2 / (w * h)); then shrink *= min(floor(w')/w', floor(h')/h')
    with w', h' the shrunk sizes in patches, so the limiting side is a whole number of patches;
    resized pixel sizes are truncated to integers; patches = ceil(w/32) * ceil(h/32).
    Docs example: 1800x2400 -> 1452. Done in integers: w' = sqrt(max * w/h), so
    floor(w') = isqrt(max * w // h), and comparing the two ratios reduces to comparing fw*h with fh*w.

    Before that, the image is fitted into 2048x2048 like on tile models. The docs do not say so,
    but a 4000x1474 image billed 1536 patches (64 x 24, i.e. 2048 px wide) on gpt-4.1-mini where
    the docs' steps alone give 1449 (OpenAI community forum, "Vision Pricing calculator:
    inaccurate resizing/rounding vs API costs"); the fit changes nothing for any docs example or
    reference case (the shrink depends only on the aspect ratio).
    """
    width, height = _fit_square(width, height, FIT_SQUARE)
    patches = _ceil_div(width, PATCH) * _ceil_div(height, PATCH)
    if patches <= max_patches:
        return patches
    fw = isqrt(max_patches * width // height)  # floor of the width in patches after the shrink
    fh = isqrt(max_patches * height // width)
    if fw * height <= fh * width:  # width limits: width becomes fw patches exactly
        fw = max(fw, 1)
        patches = fw * _ceil_div(height * fw * PATCH // width, PATCH)
    else:
        fh = max(fh, 1)
        patches = fh * _ceil_div(width * fh * PATCH // height, PATCH)
    return max(1, min(patches, max_patches))


def _fit_square(width: int, height: int, limit: int) -> tuple[int, int]:
    if width > limit and width >= height:
        return limit, _scaled(height, limit, width)
    if height > limit:
        return _scaled(width, limit, height), limit
    return width, height


def _scaled(side: int, new: int, old: int) -> int:
    """``side * new / old`` rounded to the nearest pixel (ties to even), never below 1."""
    return max(1, round(Fraction(side * new, old)))


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _round(value: Fraction, mode: str) -> int:
    """Rule 6 roundings: floor, ceil, or half up (gpt-5-nano's p * 1.503)."""
    if mode == "floor":
        return value.numerator // value.denominator
    if mode == "ceil":
        return -(-value.numerator // value.denominator)
    if mode == "half_up":
        return (2 * value.numerator + value.denominator) // (2 * value.denominator)
    raise ValueError(f"unknown rounding {mode!r}")
