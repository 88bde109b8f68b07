"""The model table: every constant the counting rules depend on, with its source.

Sources: OpenAI cookbook "How to count tokens with tiktoken" (message framing), OpenAI's vision docs
"Calculating costs" (image tiles and patches), OpenAI model pages (context windows), and fits on
``../shared/reference`` cases (the README there, "Facts the data shows", rules 1-10; cited by number).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Literal


@dataclass(frozen=True)
class ImageFormula:
    """``tile``: base + per_tile * 512px tiles. ``patch``: 32px patches times a multiplier."""

    kind: Literal["tile", "patch"]
    base: int = 0
    per_tile: int = 0
    # patch models: tokens = round_mode(patches * numerator / denominator) + offset, exact rationals
    numerator: int = 1
    denominator: int = 1
    offset: int = 0
    rounding: Literal["floor", "ceil", "half_up"] = "floor"
    max_patches: int = 1536


@dataclass(frozen=True)
class ModelSpec:
    name: str
    family: str
    encoding: str
    reasoning: bool = False
    context_window: int = 128_000
    max_output: int = 16_384
    # Chat framing (cookbook "How to count tokens with tiktoken"; reference README rules 1, 3)
    per_message: int = 3
    per_name: int = 1
    priming: int = 3
    # Whether a message's role (and name) is counted; with ``per_message`` and ``priming`` 0, only
    # the content is (the search-preview models' reported usage).
    message_headers: bool = True
    assistant_extra: int = 0
    # Tools (rules 4, 7, 9, 10)
    tool_renderer: Literal["2024", "2023"] = "2024"
    # Whether anyOf/oneOf members joined by `` | `` is verified for every union on this model (else
    # unions are flagged; render/tools.py says which shapes are flagged on every model).
    unions_verified: bool = True
    chat_tool_preamble: int = 0
    # Reasoning Chat: whether the first comment-free tool keeps the multi-line form (render/tools.py)
    # and whether a leading ``system`` message stays apart from the tools message instead of being
    # merged as ``# Instructions`` like a ``developer`` one (render/chat.py).
    chat_first_flat_multiline: bool = True
    chat_system_apart: bool = False
    tool_call_extra: int = 0
    responses_call_discount: int = 3
    # Responses minus Chat for the same messages on cl100k models (rule 10): gpt-4-0613 -1 (ruby-openai,
    # 3 of 3, 2025-08), gpt-3.5-turbo-0125 0 (openllmetry-js, 8 of 8, 2025-11..2026-04). One app each,
    # and none for the other cl100k models: Responses on cl100k is flagged (render/responses.py).
    responses_offset: int = 0
    image: ImageFormula | None = None
    # Rule 10: reasoning.mode "pro" adds hidden context of about this size (varies: an estimate).
    pro_mode_tokens: int = 0
    # A reasoning item kept in the current tool loop costs about max(0, slope * (ciphertext bytes -
    # 57) + intercept) hidden tokens, fitted for least absolute error on unknowable.jsonl.gz
    # (gpt-5-mini: 88 cases, 17.5 tokens off on average; gpt-5: 8 cases; gpt-5-nano: 18). Other
    # models use gpt-5-mini's. Always an estimate.
    reasoning_estimate: tuple[float, float] = (0.2, -114.0)
    # Legacy Chat ``functions`` and, on the 2023 renderer, ``anyOf``: exact on gpt-3.5-turbo (9 of 9
    # and 3 of 3 reference cases); on gpt-4 none of 16 (one crewai schema), so those are flagged.
    legacy_shapes_verified: bool = True
    # Tool calls and ``tool`` results in a Chat history: gpt-4-0613 counted 2-3 less than rule 7
    # says (0 of 6 exact, one app: langchaingo, 2025-06..08; gpt-3.5-turbo-0613 and every other
    # model are exact with rule 7), so on gpt-4 such histories are flagged, not fitted.
    tool_history_verified: bool = True
    unverified: bool = False
    # Fields whose value here only one app's recordings show: a count that depends on one is flagged
    # ``unverified_rule`` (read for ``"image"``: rules.py ``image.patches_gpt52``).
    one_app_fields: frozenset[str] = frozenset()
    # Name suffixes (``gpt-5.6-luna``) the reference cases show counting exactly like the family;
    # any other unknown suffix is counted by the family's rules and flagged.
    variants: frozenset[str] = frozenset()
    # Longest fine-tuning example (tokens), where OpenAI states one: the fine-tuning guide's "Training
    # examples context length" (/work/shared/facts/finetune_facts.md §2). None: not stated.
    training_example_limit: int | None = None


# Aliases that pointed at an older snapshot until a date (OpenAI's model deprecation page: the
# gpt-3.5-turbo and gpt-4 aliases moved to the -0613 snapshots on 2023-06-27, and gpt-3.5-turbo on
# to -0125 on 2024-02-16). Confirmed by reference cases that the API resolved to gpt-3.5-turbo-0301
# in April 2023, and by hmarr/openai-chat-tokens' tests (validated live, July-November 2023).
DATED_ALIASES: dict[str, tuple[tuple[date, str], ...]] = {
    "gpt-3.5-turbo": ((date(2023, 6, 27), "gpt-3.5-turbo-0301"), (date(2024, 2, 16), "gpt-3.5-turbo-0613")),
}

# Providers whose models Bifrost forwards to OpenAI's own counting (Bifrost docs: provider/model).
PROVIDERS_COUNTED_AS_OPENAI = frozenset({"openai", "azure"})

# Image formulas. Tile constants: OpenAI vision docs ("Calculating costs"); reference rule 6.
_TILE_4O = ImageFormula("tile", base=85, per_tile=170)
_TILE_4O_MINI = ImageFormula("tile", base=2833, per_tile=5667)
_TILE_O_SERIES = ImageFormula("tile", base=75, per_tile=150)
_TILE_GPT5 = ImageFormula("tile", base=70, per_tile=140)
_TILE_CUA = ImageFormula("tile", base=65, per_tile=129)
# Patch constants: OpenAI vision docs multipliers, exact rounding fitted in reference rule 6.
_PATCH_41_MINI = ImageFormula("patch", numerator=162, denominator=100, offset=2, rounding="floor")
_PATCH_41_NANO = ImageFormula("patch", numerator=246, denominator=100, offset=2, rounding="floor")
_PATCH_O4_MINI = ImageFormula("patch", numerator=172, denominator=100, offset=1, rounding="ceil")
_PATCH_5_MINI = ImageFormula("patch", numerator=120, denominator=100, offset=2, rounding="ceil")
_PATCH_5_NANO = ImageFormula("patch", numerator=1503, denominator=1000, offset=0, rounding="half_up")
# gpt-5.2 and later are patch models priced like gpt-5-mini, not gpt-5's tiles: OpenAI community
# forum ("Introducing GPT-5.4 mini and nano", 2026-03) measured 1.2 per patch on gpt-5.2, gpt-5.3-codex,
# gpt-5.4, -mini and -nano, the same counts as gpt-5-mini at 433 patches, and 2500 patches (not 1536)
# billed for 1600x1600 in Responses (Chat billed less: not modelled). Reference: ellmer only, 8 cases
# within 1 of this (gpt-5.4 and gpt-5.6-terra 512x149: 1 under, gpt-5.4-nano 512x512: 1 over; the tiles
# were 113 over and 101 under): an app-and-forum rule, so such images are flagged (``one_app_fields``).
_PATCH_GPT52 = ImageFormula("patch", numerator=120, denominator=100, offset=2, rounding="ceil", max_patches=2500)
_GPT52_IMAGE = dict(image=_PATCH_GPT52, one_app_fields=frozenset({"image"}))

_CL100K = dict(encoding="cl100k_base")
_CONTENT_ONLY = dict(per_message=0, priming=0, message_headers=False)
_O200K = dict(encoding="o200k_base")
# Reasoning models (rule 3): priming 2, +2 per earlier assistant message, ~81-token tools preamble
# in Chat, +6 per tool call (rule 7).
_REASONING = dict(encoding="o200k_base", reasoning=True, priming=2, assistant_extra=2,
                  chat_tool_preamble=80, tool_call_extra=6)


def _family(name: str, **kw: Any) -> ModelSpec:
    return ModelSpec(name=name, family=name, **kw)


FAMILIES: dict[str, ModelSpec] = {s.name: s for s in [
    # gpt-3.5 / gpt-4 (cl100k). gpt-3.5-turbo-0301: 4 per message, a name costs t(name) - 1 (cookbook).
    _family("gpt-3.5-turbo", **_CL100K, context_window=16_385, max_output=4_096, training_example_limit=16_385),
    _family("gpt-3.5-turbo-0301", **_CL100K, per_message=4, per_name=-1,
            context_window=4_096, max_output=4_096),
    _family("gpt-3.5-turbo-16k", **_CL100K, context_window=16_385, max_output=4_096),
    # The -0613 snapshots rendered functions like gpt-4-0613 (the 2023 renderer, rule 10).
    _family("gpt-3.5-turbo-0613", **_CL100K, tool_renderer="2023", context_window=4_096, max_output=4_096,
            training_example_limit=4_096),
    _family("gpt-3.5-turbo-16k-0613", **_CL100K, tool_renderer="2023", context_window=16_385,
            max_output=4_096),
    # Legacy Completions models (encodings per tiktoken's model.py MODEL_TO_ENCODING; context windows
    # per OpenAI's deprecations page).
    _family("gpt-3.5-turbo-instruct", **_CL100K, context_window=4_096, max_output=4_096),
    _family("davinci-002", **_CL100K, context_window=16_384, max_output=16_384),
    _family("babbage-002", **_CL100K, context_window=16_384, max_output=16_384),
    _family("text-davinci-003", encoding="p50k_base", context_window=4_097, max_output=4_097),
    _family("text-davinci-002", encoding="p50k_base", context_window=4_097, max_output=4_097),
    _family("code-davinci-002", encoding="p50k_base", context_window=8_001, max_output=8_001),
    *(_family(name, encoding="r50k_base", context_window=2_049, max_output=2_049) for name in (
        "text-davinci-001", "text-curie-001", "text-babbage-001", "text-ada-001",
        "davinci", "curie", "babbage", "ada")),
    # gpt-4 (-0613/-0314/-32k) keeps the 2023 tool renderer (rule 10).
    _family("gpt-4", **_CL100K, tool_renderer="2023", legacy_shapes_verified=False, tool_history_verified=False,
            responses_offset=-1, context_window=8_192, max_output=8_192),
    _family("gpt-4-32k", **_CL100K, tool_renderer="2023", legacy_shapes_verified=False,
            tool_history_verified=False, responses_offset=-1, context_window=32_768, max_output=8_192),
    _family("gpt-4-turbo", **_CL100K, context_window=128_000, max_output=4_096, image=_TILE_4O),
    _family("gpt-4-turbo-preview", **_CL100K, context_window=128_000, max_output=4_096),
    _family("gpt-4-0125-preview", **_CL100K, context_window=128_000, max_output=4_096),
    _family("gpt-4-1106-preview", **_CL100K, context_window=128_000, max_output=4_096),
    _family("gpt-4-vision-preview", **_CL100K, context_window=128_000, max_output=4_096, image=_TILE_4O),
    # gpt-4o family (o200k).
    # gpt-4o's unions disagree across apps: langgraph's number | null (2024-10..2025-01, same
    # snapshots) is exact with " | " in 29 cases and with "|" in 5; deepwiki's string|string[]
    # (pydantic-ai, 3 cases, 2026) only with "|". crewAI's object|null, once read as "|", is
    # ``object`` (render/typescript.py). Counted with " | " like every other model, and flagged.
    _family("gpt-4o", **_O200K, image=_TILE_4O, unions_verified=False, training_example_limit=65_536),
    _family("chatgpt-4o-latest", **_O200K, image=_TILE_4O),
    _family("gpt-4o-mini", **_O200K, image=_TILE_4O_MINI, training_example_limit=65_536),
    _family("gpt-4o-audio-preview", **_O200K, image=_TILE_4O),
    _family("gpt-4o-mini-audio-preview", **_O200K, image=_TILE_4O_MINI),
    _family("gpt-audio", **_O200K, image=_TILE_4O),
    _family("gpt-audio-mini", **_O200K, image=_TILE_4O_MINI),
    # Search models report the messages' content alone: no framing, role or priming (3 of 3
    # gpt-4o-search-preview cases in unknowable.jsonl.gz, system + user). The search itself is
    # hidden and multi-turn use is unseen: flagged.
    _family("gpt-4o-search-preview", **_O200K, **_CONTENT_ONLY, image=_TILE_4O, unverified=True),
    _family("gpt-4o-mini-search-preview", **_O200K, **_CONTENT_ONLY, image=_TILE_4O_MINI, unverified=True),
    _family("gpt-4.1", **_O200K, context_window=1_047_576, max_output=32_768, image=_TILE_4O),
    _family("gpt-4.1-mini", **_O200K, context_window=1_047_576, max_output=32_768, image=_PATCH_41_MINI),
    _family("gpt-4.1-nano", **_O200K, context_window=1_047_576, max_output=32_768, image=_PATCH_41_NANO),
    _family("gpt-4.5-preview", **_O200K, image=_TILE_4O),
    _family("computer-use-preview", **_O200K, context_window=8_192, max_output=1_024, image=_TILE_CUA),
    # o-series. o1-preview/o1-mini: the README's open problem (+10-12%): counts are flagged.
    _family("o1", **_REASONING, context_window=200_000, max_output=100_000, image=_TILE_O_SERIES),
    _family("o1-preview", **_REASONING, context_window=128_000, max_output=32_768, unverified=True),
    # o1-mini primes with 3 like the chat models (its one plain-text case, crewai-738).
    _family("o1-mini", **{**_REASONING, "priming": 3}, context_window=128_000, max_output=65_536,
            unverified=True),
    _family("o1-pro", **_REASONING, context_window=200_000, max_output=100_000, image=_TILE_O_SERIES),
    _family("o3", **_REASONING, context_window=200_000, max_output=100_000, image=_TILE_O_SERIES),
    _family("o3-pro", **_REASONING, context_window=200_000, max_output=100_000, image=_TILE_O_SERIES),
    # o3-mini has none of the reasoning surcharges (rule 10).
    _family("o3-mini", **{**_REASONING, "assistant_extra": 0, "chat_tool_preamble": 0, "tool_call_extra": 0},
            context_window=200_000, max_output=100_000),
    _family("o4-mini", **_REASONING, context_window=200_000, max_output=100_000, image=_PATCH_O4_MINI),
    # codex-mini-latest: "a fine-tuned version of o4-mini for use in Codex CLI", Responses API only
    # (OpenAI model page codex-mini-latest; 200k context, 100k output). Counted as o4-mini; no reference
    # case (the API accepted it in apps outside these files: issue 21, 18 error rows), so flagged.
    _family("codex-mini-latest", **_REASONING, unverified=True, context_window=200_000, max_output=100_000,
            image=_PATCH_O4_MINI),
    # gpt-5 family. gpt-5 and gpt-5-nano write every
    # comment-free tool on one line with a preamble of 81 (ellmer gpt-5 4 of 4 and gpt-5-nano 3 of 3
    # exact, pydantic-ai gpt-5 5 of 5 still exact; nano's one-line tools: ellmer only). gpt-5-mini
    # keeps a leading system message apart (mirascope 38, ellmer 2 exact); gpt-5-nano and gpt-5.1
    # merge it as ``# Instructions`` (ellmer 17, newrelic 5 gained; newrelic nrpy-22 lost).
    _family("gpt-5", **{**_REASONING, "chat_tool_preamble": 81, "chat_first_flat_multiline": False},
            reasoning_estimate=(0.285, -232.0), context_window=400_000,
            max_output=128_000, image=_TILE_GPT5),
    _family("gpt-5-mini", **{**_REASONING, "chat_system_apart": True}, context_window=400_000,
            max_output=128_000, image=_PATCH_5_MINI),
    _family("gpt-5-nano", **{**_REASONING, "chat_tool_preamble": 81, "chat_first_flat_multiline": False},
            reasoning_estimate=(0.2, -122.0),
            context_window=400_000, max_output=128_000, image=_PATCH_5_NANO),
    _family("gpt-5-pro", **_REASONING, context_window=400_000, max_output=272_000, image=_TILE_GPT5),
    # Codex models: no exact reference case yet, and Codex traffic carries hidden context: flagged.
    _family("gpt-5-codex", **_REASONING, unverified=True, context_window=400_000, max_output=128_000, image=_TILE_GPT5),
    # *-chat variants are not reasoning models (rule 3).
    _family("gpt-5-chat", **_O200K, context_window=128_000, max_output=16_384, image=_TILE_GPT5),
    _family("gpt-5.1", **_REASONING, context_window=400_000, max_output=128_000,
            image=_TILE_GPT5),
    _family("gpt-5.1-codex", **_REASONING, unverified=True, context_window=400_000, max_output=128_000,
            image=_TILE_GPT5),
    _family("gpt-5.1-chat", **_O200K, context_window=128_000, max_output=16_384, image=_TILE_GPT5),
    _family("gpt-5.2", **_REASONING, context_window=400_000, max_output=128_000, **_GPT52_IMAGE),
    _family("gpt-5.2-chat", **_O200K, context_window=128_000, max_output=16_384, image=_TILE_GPT5),
    # gpt-5.3-chat-latest: on OpenAI's pricing page (shared/facts/openai_prices.yaml); a *-chat model,
    # not a reasoning one, like gpt-5.2-chat. No reference case: flagged.
    _family("gpt-5.3-chat", **_O200K, unverified=True, context_window=128_000, max_output=16_384,
            image=_TILE_GPT5),
    _family("gpt-5.3-codex", **_REASONING, context_window=400_000, max_output=128_000, **_GPT52_IMAGE),
    # gpt-5.4+: a single Responses function_call costs 3 more than on gpt-5 (rule 10). gpt-5.4 in
    # Chat: a tools preamble of 81 (7 of 7 cases; its mini keeps 80, 9 of 9).
    _family("gpt-5.4", **{**_REASONING, "chat_tool_preamble": 81}, responses_call_discount=0,
            context_window=1_050_000, max_output=128_000, **_GPT52_IMAGE),
    _family("gpt-5.4-mini", **_REASONING, responses_call_discount=0,
            context_window=400_000, max_output=128_000, **_GPT52_IMAGE),
    _family("gpt-5.4-nano", **_REASONING, responses_call_discount=0, context_window=400_000,
            max_output=128_000, **_GPT52_IMAGE),
    _family("gpt-5.4-pro", **_REASONING, responses_call_discount=0, context_window=1_050_000,
            max_output=128_000, **_GPT52_IMAGE),
    _family("gpt-5.5", **_REASONING, responses_call_discount=0, context_window=1_050_000,
            max_output=128_000, **_GPT52_IMAGE),
    # gpt-5.6-luna/-sol/-terra: 22 reference cases, exact as gpt-5.6.
    _family("gpt-5.6", **_REASONING, responses_call_discount=0, context_window=1_050_000,
            max_output=128_000, **_GPT52_IMAGE, pro_mode_tokens=1520,
            variants=frozenset({"luna", "sol", "terra"})),
    # gpt-oss speaks harmony (openai/harmony); counted with its encoding.
    _family("gpt-oss-120b", encoding="o200k_harmony", reasoning=True, priming=2, context_window=131_072,
            max_output=131_072),
    _family("gpt-oss-20b", encoding="o200k_harmony", reasoning=True, priming=2, context_window=131_072,
            max_output=131_072),
]}
