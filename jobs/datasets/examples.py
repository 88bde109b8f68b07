"""``ExampleCounter``: the job's row counter for fine-tuning lines, run by ``run_job`` on either engine.

Each line is checked (``checks.py``) and counted by the core as the Chat prompt it is (the whole
conversation with its tools, by the model's real rules); the assistant messages with weight 1 give
``trained_tokens``. A failing example is an error row (``invalid_request``) whose ``format_error``
column holds the check's code and ``problems`` every problem found, so it is never dropped.
"""

from __future__ import annotations

from typing import Any

import orjson
import pyarrow as pa

from jobs.config import JobConfig
from jobs.datasets.checks import check_example, example_kind
from jobs.job.counting import RowCounter, _fail
from tokcount_core import CountResult, ErrorCode, count
from tokcount_core.result import EstimateReason

EXAMPLE_FIELDS = (
    pa.field("kind", pa.string()),
    pa.field("trained_tokens", pa.int64()),
    pa.field("over_limit", pa.bool_()),
    pa.field("format_error", pa.string()),
    pa.field("problems", pa.list_(pa.string())),
)
NO_LIMIT = 2**62  # the job's kept/rejected split needs a bound: a model without a stated limit keeps all
_BODY_KEYS = ("tools", "parallel_tool_calls", "functions")


class ExampleCounter(RowCounter):
    @classmethod
    def schema_for(cls, config: JobConfig) -> pa.Schema:
        schema = super().schema_for(config)
        for field in EXAMPLE_FIELDS:
            schema = schema.append(field)
        return schema

    def _count_into(self, row: dict[str, Any], raw: bytes, where: str) -> None:
        row.update(kind=None, trained_tokens=None, over_limit=None, format_error=None, problems=[])
        record = _parse(raw, self._max_bytes)
        if record is None:  # not one JSON value: the job's own error row (invalid_json, too_large)
            return super()._count_into(row, raw, where)
        row.update(kind=example_kind(record), model=self.config.model, api="chat")
        problems = check_example(record)
        if problems:
            row.update(format_error=problems[0].code, problems=[f"{p.code}: {p}" for p in problems])
            return _fail(row, ErrorCode.INVALID_REQUEST, f"{where}: {problems[0]}")
        res, tokens, trained, extra = (self._count_dpo if row["kind"] == "dpo" else self._count_chat)(record)
        row.update(model=res.model or row["model"], encoding=res.encoding, estimated=res.estimated or bool(extra),
                   estimate_reasons=[*res.estimate_reasons, *extra], rules_version=res.rules_version)
        if res.error_code is not None or res.input_tokens is None:
            return _fail(row, res.error_code or ErrorCode.INTERNAL_ERROR,
                         f"{where}: {res.error_message or 'no count returned'}")
        row.update(input_tokens=tokens, trained_tokens=trained)
        row["total_tokens"] = row["input_tokens"]
        if row["kind"] == "chat" and res.input_tokens_details is not None:
            row["input_tokens_details"] = res.input_tokens_details.model_dump()
        row["over_limit"] = row["input_tokens"] > (self.config.output.max_input_tokens or NO_LIMIT)

    def _count(self, body: dict[str, Any]) -> CountResult:
        return count(body, default_model=self.config.model, api="chat", as_of=self.config.as_of, explain=True,
                     images=self.image_sizer.hints(body), registry=self.registry, limits=self.limits)

    def _count_chat(self, record: dict[str, Any]) -> tuple[CountResult, int | None, int, list[str]]:
        messages = record["messages"]
        body = {"model": self.config.model, "messages": messages, **{k: record[k] for k in _BODY_KEYS if k in record}}
        res = self._count(body)
        trained = {i for i, m in enumerate(messages) if m.get("role") == "assistant" and m.get("weight", 1) == 1}
        return res, res.input_tokens, _message_tokens(res, trained), []

    def _count_dpo(self, record: dict[str, Any]) -> tuple[CountResult, int | None, int, list[str]]:
        """The prompt with the preferred output, plus the non-preferred output: every token of the
        example, as the guide's "tokens in the input file" reads (flagged: DPO's rendering is unknown)."""
        prompt = record["input"]
        base = {"model": self.config.model, **{k: prompt[k] for k in _BODY_KEYS if k in prompt}}
        last = {len(prompt["messages"])}
        preferred = self._count({**base, "messages": [*prompt["messages"], *record["preferred_output"]]})
        other = self._count({**base, "messages": [*prompt["messages"], *record["non_preferred_output"]]})
        if other.error_code is not None or preferred.input_tokens is None:
            return (preferred if preferred.error_code else other), None, 0, []
        other_tokens = _message_tokens(other, last)
        return (preferred, preferred.input_tokens + other_tokens, _message_tokens(preferred, last) + other_tokens,
                # How preference examples are rendered and billed is not documented (finetune_facts.md
                # §2.4, "DPO training price: not found"): a count resting on an unverified rule.
                [EstimateReason.UNVERIFIED_RULE.value])


def _message_tokens(res: CountResult, indexes: set[int]) -> int:
    """Tokens of the messages at ``indexes`` (the core tags each segment with its message's index)."""
    return sum(s.tokens for s in res.segments or () if s.item in indexes)


def _parse(raw: bytes, max_bytes: int | None) -> Any:
    if not raw.strip() or (max_bytes is not None and len(raw) > max_bytes):
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
