"""The one entry point: request body in, ``CountResult`` out. Never raises for bad input."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

import orjson
from pydantic import ValidationError

from tokcount_core.coverage import check as check_coverage
from tokcount_core.dates import utc_date
from tokcount_core.limits import ImageHints, Limits, TooLarge
from tokcount_core.media.errors import InvalidMedia, MediaTooLarge
from tokcount_core.refusals import chat_refusal, responses_refusal
from tokcount_core.registry import Registry, UnknownModel, UnsupportedProvider, default_registry
from tokcount_core.render.chat import render_chat
from tokcount_core.render.completions import render_completions
from tokcount_core.render.context import RenderContext
from tokcount_core.render.responses import render_responses
from tokcount_core.result import CountResult, ErrorCode, EstimateReason, RecordError
from tokcount_core.rules import use
from tokcount_core.schema.items import ITEM_TAGS
from tokcount_core.schema.parts import PART_TAGS
from tokcount_core.schema.requests import (
    CHAT_ADAPTER,
    COMPLETIONS_ADAPTER,
    RESPONSES_ADAPTER,
    Api,
    ChatBody,
    ResponsesBody,
    detect_api,
    moved_parameter,
)
from tokcount_core.schema.tools import TOOL_TAGS
from tokcount_core.tally import tally

_DEFAULT_LIMITS = Limits()
_NO_HINTS = ImageHints()
# Tags our discriminated unions use: pydantic puts them in error locations, users never wrote them.
_TAGS = ITEM_TAGS | PART_TAGS | TOOL_TAGS


def count(
    request: dict[str, Any] | str | bytes,
    model: str | None = None,
    *,
    default_model: str | None = None,
    api: Api | None = None,
    as_of: date | datetime | str | None = None,
    registry: Registry | None = None,
    limits: Limits | None = None,
    explain: bool = False,
    return_tokens: bool = False,
    images: ImageHints | None = None,
) -> CountResult:
    """Count the input tokens OpenAI would bill for ``request``.

    ``model`` overrides the body's model (e.g. an Azure deployment's real model); ``default_model``
    fills in when the body has none (fine-tuning data). ``as_of`` selects the rendering era.
    ``images`` gives sizes of remote images resolved outside the core (it never fetches).
    """
    limits = limits or _DEFAULT_LIMITS
    try:
        return _count(request, model, default_model, api, as_of, registry or default_registry(), limits,
                      explain, return_tokens, images or _NO_HINTS)
    except RecordError as exc:
        return CountResult.failure(exc.code, str(exc))
    except (MediaTooLarge, TooLarge, RecursionError) as exc:
        return CountResult.failure(ErrorCode.TOO_LARGE, f"too large: {exc}")
    except InvalidMedia as exc:
        return CountResult.failure(ErrorCode.INVALID_MEDIA, f"invalid media: {exc}")
    except Exception as exc:  # a bug of ours must cost one row, not the job
        return CountResult.failure(ErrorCode.INTERNAL_ERROR, f"{type(exc).__name__}: {exc}")


def count_many(requests: Iterable[dict[str, Any] | str | bytes], **kwargs: Any) -> list[CountResult]:
    return [count(r, **kwargs) for r in requests]


def _count(request: Any, model: str | None, default_model: str | None, api: Api | None, as_of: Any,
           registry: Registry, limits: Limits, explain: bool, return_tokens: bool, images: ImageHints) -> CountResult:
    body = _load(request, limits)
    kind = api or detect_api(body)
    if kind in ("responses", "bifrost") and (moved := moved_parameter(body)):
        raise RecordError(ErrorCode.INVALID_REQUEST, moved)
    given = body.get("model")
    if given is not None and not isinstance(given, str):
        raise RecordError(ErrorCode.INVALID_REQUEST, f"model: expected a string, got {type(given).__name__}")
    model_name = model or given or default_model
    if not isinstance(model_name, str) or not model_name:
        raise RecordError(ErrorCode.MISSING_MODEL, "model: no model in the request and no default model given")
    day = utc_date(as_of)
    try:
        spec, unverified = registry.resolve(model_name, day)
    except UnsupportedProvider as exc:
        raise RecordError(ErrorCode.UNSUPPORTED_PROVIDER, f"model: {exc}") from exc
    except UnknownModel as exc:
        raise RecordError(ErrorCode.UNKNOWN_MODEL, f"model: {exc}") from exc
    ctx = RenderContext(spec=spec, api="responses" if kind == "bifrost" else kind, as_of=day, limits=limits,
                        image_hints=images)
    if unverified is EstimateReason.UNVERIFIED_RULE:
        use(ctx, "model.no_reference_case")
    elif unverified:
        ctx.estimate(unverified)
    try:
        parsed: ChatBody | ResponsesBody | None = None
        if kind == "chat":
            parsed = CHAT_ADAPTER.validate_python(body)
            _refuse(chat_refusal(parsed))
            render_chat(ctx, parsed)
        elif kind == "completions":
            render_completions(ctx, COMPLETIONS_ADAPTER.validate_python(body))
        else:
            parsed = RESPONSES_ADAPTER.validate_python(body)
            _refuse(responses_refusal(parsed))
            render_responses(ctx, parsed)
    except ValidationError as exc:
        raise _validation_error(exc) from exc
    check_coverage(ctx, parsed)
    return tally(ctx, kind, explain, return_tokens)


def _refuse(reason: str | None) -> None:
    if reason is not None:
        raise RecordError(ErrorCode.INVALID_REQUEST, f"{reason} (the API refuses this request)")


_BOM = b"\xef\xbb\xbf"


def _load(request: Any, limits: Limits) -> dict[str, Any]:
    if isinstance(request, str | bytes | bytearray | memoryview):
        raw = bytes(request) if not isinstance(request, str) else request.encode("utf-8", "surrogatepass")
        raw = raw.removeprefix(_BOM)  # files saved by Windows tools; the record itself is fine
        if len(raw) > limits.max_record_bytes:
            raise RecordError(ErrorCode.TOO_LARGE, f"record is {len(raw)} bytes, over {limits.max_record_bytes}")
        try:
            request = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            if "depth limit" in str(exc):  # orjson stops at 1024 levels
                raise RecordError(ErrorCode.TOO_LARGE, f"JSON nested too deeply: {exc}") from exc
            raise RecordError(ErrorCode.INVALID_JSON, f"invalid JSON: {exc}") from exc
    if not isinstance(request, dict):
        raise RecordError(ErrorCode.INVALID_REQUEST, f"body: expected a JSON object, got {type(request).__name__}")
    return request


_UNION_BRANCHES = frozenset({"str", "int", "float", "bool", "dict", "list", "none"})


def _validation_error(exc: ValidationError) -> RecordError:
    """The most telling error, with its location as the request spells it (``input.3.content``)."""
    errors = exc.errors(include_url=False)
    # An unknown ``type`` on an object is unsupported; a non-object where an item belongs is invalid.
    unsupported = [e for e in errors if e["type"] == "unsupported_item" and isinstance(e.get("input"), dict)]
    first = unsupported[0] if unsupported else max(errors, key=lambda e: len(e["loc"]))
    if first["type"] == "unsupported_item" and not unsupported:
        first = {**first, "msg": f"expected an object, got {type(first.get('input')).__name__}"}
    where = ".".join(str(p) for p in first["loc"] if not _is_branch(p)) or "body"
    code = ErrorCode.UNSUPPORTED_ITEM if unsupported else ErrorCode.INVALID_REQUEST
    return RecordError(code, f"{where}: {first['msg']}")


def _is_branch(part: object) -> bool:
    """Pydantic names union members in locations (``str``, ``list[...]``, tags); users never wrote those."""
    return isinstance(part, str) and ("[" in part or part in _UNION_BRANCHES or part in _TAGS)
