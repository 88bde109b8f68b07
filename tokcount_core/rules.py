"""The rulebook: every registered count-changing rule as a named unit, looked up through ``RULES``.

A rule has a stable id, a scope (APIs, model families, an era), a one-line statement, its source
(where it comes from: a reference README rule, the apps that first showed it), and ``verified``: whether
counts using it go unflagged. How many cases and apps decide it is the ledger's to say, not the source's
(docs/rules.md is the ledger as a table). The policy (tests/core/test_ledger.py)
allows ``verified`` only where the evidence ledger (``python -m tests.core.ledger``, written to
tests/data/reference/ledger.json) shows at least 3 apps and 10 cases the rule makes exact and no app
it makes inexact; every other rule flags the counts that use it ``unverified_rule``.

Code sites ask the registry, never a constant of their own:

- ``use(ctx, id)``: the rule applies to this request; records the id in the count's ``rules``, flags
  the count if the rule is unverified, and says whether the rule is on (the ledger switches rules
  off with ``switched``);
- ``old_era(ctx, id)``: whether the behaviour before an era boundary applies. A boundary is known
  only between adjacent observations (``Era.known_until``: the last recording showing the old
  behaviour, ``Era.known_from``: the first showing the new): requests dated in between are counted
  as the new behaviour and flagged; undated ones follow today's;
- ``value(ctx, field)``: a fitted per-model value of the model table (models.py). Each distinct
  value of a field is one rule (``model.priming.3``) whose scope is the families that have it, so
  the evidence of every family with that value is pooled.

Not yet registered (they change counts but are plain constants of their modules): image formulas
(models.py, media.image_tokens) and image detail handling, audio and file framing (render/media.py),
the kept-reasoning estimate, web_search's 294 and its date, the TypeScript schema rendering
(render/typescript.py: one-line objects, titles, enums, the titled-object comma in Chat), the 2023
tool renderer's details (render/tools.py ``_LegacyRenderer``), the stripped response-format keywords,
parallel call/result bodies, the Completions prompt rules, dated aliases (models.DATED_ALIASES),
``message_headers`` and ``pro_mode_tokens``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass, replace
from datetime import date
from typing import TYPE_CHECKING, Any

from tokcount_core.models import FAMILIES
from tokcount_core.result import RULES_VERSION, EstimateReason

if TYPE_CHECKING:
    from tokcount_core.render.context import RenderContext


@dataclass(frozen=True)
class Era:
    """An era boundary as the evidence shows it: old behaviour last seen ``known_until``, new
    behaviour first seen ``known_from`` (recording days)."""

    known_until: date
    known_from: date
    # Whether today's (new) behaviour meets the policy; the rule's ``verified`` is the old side's.
    new_verified: bool = True


@dataclass(frozen=True)
class Rule:
    id: str
    statement: str
    source: str
    verified: bool
    apis: tuple[str, ...] = ()  # () = every API
    models: tuple[str, ...] = ()  # families; () = every model
    era: Era | None = None
    # What the ledger switches to: "off" (the site skips the rule), "eras" (always old / always new),
    # model-field values, or "none" (a flag-only rule: the site has no alternative rendering).
    alternative: str = "off"


def _rule(id: str, statement: str, source: str, verified: bool, **scope: Any) -> Rule:
    return Rule(id, statement, source, verified, **scope)


_REASONING = tuple(sorted(n for n, s in FAMILIES.items() if s.reasoning))
_LEGACY = tuple(sorted(n for n, s in FAMILIES.items() if s.tool_renderer == "2023"))
_CL100K = tuple(sorted(n for n, s in FAMILIES.items() if s.encoding == "cl100k_base"))

_RULES = [
    # Registry
    _rule("model.no_reference_case", "a family with no exact reference case is counted by its nearest rules",
          "models.py ``unverified=True`` families", False, alternative="none"),
    # Chat framing and layout
    _rule("chat.name.colon_merge", "a message name costs t(':' + name) where that differs from 1 + t(name)",
          "langgraph", False),
    _rule("chat.name.equals_role", "a name equal to its role costs t(name) alone", "reference README rule 10",
          True),
    _rule("chat.tools.block_adjustment", "the tools block merged into a message costs 1 less than its text",
          "reference README rule 4", True, apis=("chat",)),
    _rule("chat.tools.empty_system_joint_2023", "an empty first system message on the 2023 renderer goes "
          "without the blank line before the tools", "gpt-fn gpt-3.5-turbo-0613", False, apis=("chat",),
          models=_LEGACY),
    _rule("chat.functions.legacy_shapes_gpt4", "legacy ``functions`` on gpt-4 are rendered as tools",
          "crewai gpt-4 schemas (models.py ``legacy_shapes_verified``)", False, apis=("chat",),
          models=("gpt-4", "gpt-4-32k"), alternative="none"),
    _rule("chat.tool_history.gpt4", "tool calls and results in a gpt-4 history cost rule 7's framing",
          "langchaingo gpt-4-0613 (models.py ``tool_history_verified``)", False, apis=("chat",),
          models=("gpt-4", "gpt-4-32k"), alternative="none"),
    _rule("chat.function_result.answers_call", "a legacy function result answering a call costs 6 + t(name)",
          "openai-dotnet gpt-4o-mini", False, apis=("chat",)),
    _rule("chat.tool_result.image_discount", "an image inside a tool message costs 17 less (15 reasoning)",
          "reference README rule 6", True, apis=("chat",)),
    _rule("chat.response_format.name_on_assistant", "non-reasoning Chat charges the format name + 2 on the reply "
          "and every earlier plain assistant message", "reference README rule 8", True, apis=("chat",)),
    _rule("chat.response_format.block_era", "before the boundary the schema block is not charged",
          "reference README rule 8; old side: sublayer", False, apis=("chat",),
          era=Era(date(2024, 8, 19), date(2024, 10, 10)), alternative="eras"),
    _rule("chat.parallel_results.raw_era", "merged parallel tool results \\u-escape non-ASCII before the boundary",
          "merged parallel results in the recordings", True, apis=("chat",),
          era=Era(date(2026, 3, 3), date(2026, 3, 12)), alternative="eras"),
    # tool_choice (reference README rule 9)
    _rule("tool_choice.hosted", "forcing a hosted tool costs nothing known", "no reference case", False,
          alternative="none"),
    _rule("tool_choice.none_surcharge", '``"none"`` costs 1 (0 on reasoning models)',
          "reference README rule 9; reasoning models' recordings", True),
    _rule("tool_choice.responses_required_single", '``"required"`` with one tool in Responses names that tool',
          "non-reasoning Responses recordings", True, apis=("responses",)),
    _rule("tool_choice.named", "a named tool costs t('functions.' + name) + 6 (+3 on the 2023 renderer)",
          "reference README rule 9; crewAI, mirascope, gpt-fn", True),
    _rule("tool_choice.required_2023", '``"required"`` costs 2 on the 2023 renderer', "mirascope gpt-4-0613",
          False, models=_LEGACY),
    _rule("chat.tool_choice.required_surcharge", 'Chat ``"required"`` cost 2 before the boundary, 0 after',
          "issue 21: +2 in ldp, paper-qa, langgraph, aviary; 0 in later apps' recordings", True, apis=("chat",),
          era=Era(date(2024, 10, 7), date(2024, 10, 24)), alternative="eras"),
    _rule("chat.tool_choice.required_surcharge.gpt-3.5-turbo", 'gpt-3.5-turbo Chat ``"required"`` cost 2 '
          "before the boundary", "gpt-3.5-turbo recordings on both sides", False,
          apis=("chat",), models=("gpt-3.5-turbo",), era=Era(date(2024, 11, 26), date(2024, 12, 4), new_verified=False),
          alternative="eras"),
    _rule("chat.priming.0301_launch_era", "gpt-3.5-turbo-0301 Chat cost 1 less (reply priming 2) in its first "
          "weeks", "boxcars' recordings of March 2023, on both sides of the boundary", False, apis=("chat",),
          models=("gpt-3.5-turbo-0301",), era=Era(date(2023, 3, 20), date(2023, 3, 28)), alternative="eras"),
    # Tool definitions (reference README rules 4, 10)
    _rule("tools.namespace", "a namespace tool's functions are counted as plain functions", "no reference case",
          False, alternative="none"),
    _rule("tools.custom_framing", "a freeform tool costs 13 more than its ``(_: string)`` line",
          "gpt-5 Responses recordings", True),
    _rule("tools.custom_grammar_or_chat", "a grammar, or a custom tool in Chat, renders like a text one",
          "no reference case", False, alternative="none"),
    _rule("tools.contradicted_shape", "schema shapes the cases contradict (object unions, described members, "
          "strict commented array items, empty descriptions, patterns) render as for other shapes",
          "render/tools.py _unverified_shape", False, alternative="none"),
    _rule("tools.strict_nullable", "a strict tool with a nullable type list costs about 33 more",
          "crewAI exactly 33; ellmer 34-36", False),
    _rule("tools.legacy_defaults_era", "the 2023 renderer shows defaults from the boundary on",
          "gpt-fn", True, models=_LEGACY,
          era=Era(date(2023, 6, 15), date(2023, 12, 19)), alternative="eras"),
    _rule("tools.bare_objects_era", "a property that is an object without properties is written before the "
          "boundary and left out after", "gpt-fn written; later recordings omit",
          True, era=Era(date(2023, 6, 15), date(2024, 2, 13)), alternative="eras"),
    # Response formats (rule 8)
    _rule("response_format.stripped_unverified", "format/minLength/maxLength/exclusive bounds/$schema are "
          "stripped like the bounds", "activeagent, openllmetry-js", False, alternative="none"),
    _rule("response_format.late_defs", "definitions after other keys are written in the order sent",
          "activeagent", False, alternative="none"),
    _rule("responses.format_adjustment", "a Responses format block costs 3 less (4 reasoning), 3 back with tools",
          "reference README rule 8", True, apis=("responses",)),
    # Images (rule 6)
    _rule("image.no_formula", "a model without an image formula prices images at 0", "none", False,
          alternative="none"),
    _rule("image.patches_gpt52", "gpt-5.2+ price images as 32px patches at 1.2", "ellmer; OpenAI forum",
          False, models=tuple(sorted(n for n, s in FAMILIES.items() if "image" in s.one_app_fields)),
          alternative="none"),
    _rule("image.gpt4o_chat_early", "gpt-4o Chat images before 2025-07-23 use today's tiles",
          "pydantic-ai (2025-04)", False, apis=("chat",), models=("gpt-4o",), alternative="none"),
    _rule("image.other_detail", "a detail other than auto/high/low is priced as high", "not documented", False,
          alternative="none"),
    _rule("completions.suffix", "a Completions suffix is counted as plain text", "not documented", False,
          apis=("completions",), alternative="none"),
    # Responses (rules 5, 7, 10)
    _rule("responses.before_launch", "a Responses request dated before 2025-03-01 follows later rules",
          "fixture-dated cases", False, apis=("responses",), alternative="none"),
    _rule("responses.configuration_update", "a configuration_update item costs nothing known",
          "no reference case", False, apis=("responses",), alternative="none"),
    _rule("responses.cl100k", "Responses on cl100k models: Chat's count plus the model's offset",
          "ruby-openai gpt-4; openllmetry-js gpt-3.5-turbo", False, apis=("responses",),
          models=_CL100K, alternative="none"),
    _rule("responses.compact_arguments", "call arguments are re-serialised compactly",
          "recordings disagree (some fit compact, more as sent)", False, apis=("responses",)),
    _rule("responses.null_tool_choice_ids", "under an explicit ``tool_choice: null`` a call's id costs nothing",
          "activeagent", False, apis=("responses",)),
    _rule("responses.call_id_surcharge", "a single call replayed with its ``id`` costs 3 more",
          "reference README rule 7", True, apis=("responses",)),
    _rule("responses.tools_adjustment", "the Responses tools message costs 7 less than Chat's (1 on reasoning)",
          "reference README rule 4", True, apis=("responses",)),
    _rule("responses.undescribed_functions", "on reasoning models a function without description costs 1 less",
          "reasoning models' Responses recordings", True, apis=("responses",), models=_REASONING),
    _rule("responses.image_only", "a content list of images only costs 1 more", "reference README rule 6", True,
          apis=("responses",)),
    _rule("responses.march_2025", "non-reasoning Responses recorded in March 2025 cost 18 more (+3 and a 195 "
          "multi_tool_use namespace with tools)", "reference README rule 5", True, apis=("responses",)),
]

# The fitted fields of the model table and the alternatives the data chooses among
# (tests/core/holdout.py and the ledger switch each value to these).
MODEL_FIELDS: dict[str, tuple[Any, ...]] = {
    "per_message": (3, 4),
    "per_name": (-1, 1),
    "priming": (2, 3),
    "assistant_extra": (0, 2),
    "tool_call_extra": (0, 6),
    "responses_call_discount": (0, 3),
    "responses_offset": (-1, 0),
    "chat_tool_preamble": (79, 80, 81, 82),
    "chat_first_flat_multiline": (True, False),
    "chat_system_apart": (True, False),
}
# Fields that only reasoning models' rules read.
REASONING_ONLY_FIELDS = frozenset({"chat_tool_preamble", "chat_first_flat_multiline", "chat_system_apart"})


def value_rule_id(field: str, value: Any) -> str:
    return f"model.{field}.{str(value).lower()}"


def _model_value_rules() -> list[Rule]:
    out = []
    for field in MODEL_FIELDS:
        by_value: dict[Any, list[str]] = {}
        for name, spec in FAMILIES.items():
            if field not in REASONING_ONLY_FIELDS or spec.reasoning:
                by_value.setdefault(getattr(spec, field), []).append(name)
        for val, families in sorted(by_value.items(), key=lambda kv: str(kv[0])):
            rid = value_rule_id(field, val)
            out.append(Rule(rid, f"{field} = {val} (models.py)", "models.py field comments",
                            True, models=tuple(sorted(families)), alternative="values"))
    return out


# Rules the ledger shows short of the policy (fewer than 3 apps or 10 cases, or an app against):
# counts using them are flagged. For an era rule, the side(s) that fall short.
_POLICY_FAILED = frozenset({
    "chat.name.equals_role", "chat.tool_result.image_discount", "tool_choice.responses_required_single",
    "tools.custom_framing", "responses.undescribed_functions", "responses.image_only",
    "model.per_message.0", "model.per_name.-1", "model.priming.0", "model.responses_call_discount.0",
    "model.responses_offset.-1", "model.responses_offset.0", "model.chat_tool_preamble.0",
    "model.chat_first_flat_multiline.false", "model.chat_first_flat_multiline.true",
    "model.chat_system_apart.false", "model.chat_system_apart.true",
})
_ERA_SIDES_FAILED = {"chat.tool_choice.required_surcharge": ("old",), "chat.parallel_results.raw_era": ("new",),
                     "tools.legacy_defaults_era": ("old", "new"), "tools.bare_objects_era": ("old", "new")}


def _policy(rule: Rule) -> Rule:
    sides = _ERA_SIDES_FAILED.get(rule.id, ())
    if rule.era is not None and sides:
        era = replace(rule.era, new_verified=rule.era.new_verified and "new" not in sides)
        return replace(rule, verified=rule.verified and "old" not in sides, era=era)
    return replace(rule, verified=rule.verified and rule.id not in _POLICY_FAILED)


RULES: dict[str, Rule] = {r.id: _policy(r) for r in [*_RULES, *_model_value_rules()]}

# The ledger's switches: rule id -> False (off), "old"/"new" (eras), or a model-field value.
_SWITCHES: ContextVar[dict[str, Any] | None] = ContextVar("rule_switches", default=None)


@contextmanager
def switched(rule_id: str, to: Any) -> Iterator[None]:
    """Count with one rule switched off or to its alternative (the ledger's recounts)."""
    token = _SWITCHES.set({**(_SWITCHES.get() or {}), rule_id: to})
    try:
        yield
    finally:
        _SWITCHES.reset(token)


def _record(ctx: RenderContext, rule_id: str, verified: bool) -> None:
    """The count used the rule; an unverified use flags it (and is remembered as such)."""
    if not verified:
        ctx.rules[rule_id] = True
        ctx.estimate(EstimateReason.UNVERIFIED_RULE)
    else:
        ctx.rules.setdefault(rule_id, False)


def use(ctx: RenderContext, rule_id: str) -> bool:
    """The rule applies to this request: record it, flag it if unverified; whether it is on."""
    _record(ctx, rule_id, RULES[rule_id].verified)
    return (_SWITCHES.get() or {}).get(rule_id, True) is not False


def old_era(ctx: RenderContext, rule_id: str) -> bool:
    """Whether the behaviour before the rule's era boundary applies to this request."""
    rule = RULES[rule_id]
    era = rule.era
    assert era is not None, rule_id
    forced = (_SWITCHES.get() or {}).get(rule_id)
    day = ctx.as_of
    old = forced == "old" if forced is not None else day is not None and day <= era.known_until
    # Between the last old and the first new observation the behaviour is unknown: counted as new, flagged.
    gap = forced is None and day is not None and era.known_until < day < era.known_from
    _record(ctx, rule_id, not gap and (rule.verified if old else era.new_verified))
    return old


_VALUE_IDS: dict[tuple[str, Any], str] = {}


def value(ctx: RenderContext, field: str) -> Any:
    """A fitted model-table value as this request's model has it (or the ledger's alternative)."""
    own = getattr(ctx.spec, field)
    key = (field, own)
    rid = _VALUE_IDS.get(key)
    if rid is None:
        rid = _VALUE_IDS[key] = value_rule_id(field, own)
    rule = RULES.get(rid)
    if rule is None:  # a value no family of the table has (a test's or a caller's own ModelSpec)
        return own
    _record(ctx, rid, rule.verified)
    return (_SWITCHES.get() or {}).get(rid, own)


def digest() -> str:
    """Digest of every rule's definition, the model table's fitted values and ``RULES_VERSION``: the
    ledger records it so a test can tell a stale ledger cheaply."""
    rules = [asdict(r) for r in RULES.values()]
    return hashlib.sha256(json.dumps([RULES_VERSION, rules], default=str, sort_keys=True).encode()).hexdigest()
