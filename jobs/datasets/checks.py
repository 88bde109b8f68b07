"""Format checks for fine-tuning examples: the cookbook's, updated to today's format.

The cookbook ("Data preparation and analysis for chat model fine-tuning", openai/openai-cookbook
``examples/Chat_finetuning_data_prep.ipynb``; /work/shared/facts/finetune_facts.md §1.1) predates
tools, ``weight``, images and DPO: it rejects tool calls and ``content: null`` assistant turns. Here
those are fine, and the guide's newer rules are checked (facts §2.1-2.4): ``weight`` is 0 or 1 and
only on assistant messages, no images in assistant messages, at most 10 images an example, and a DPO
output is one assistant message. Every problem names the field, so an error row says what to fix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Kind = Literal["chat", "dpo"]

# Cookbook error keys (facts §1.1), kept so its users recognise them; then the ones it lacks.
DATA_TYPE = "data_type"
MISSING_MESSAGES_LIST = "missing_messages_list"
MESSAGE_MISSING_KEY = "message_missing_key"
MESSAGE_UNRECOGNIZED_KEY = "message_unrecognized_key"
UNRECOGNIZED_ROLE = "unrecognized_role"
MISSING_CONTENT = "missing_content"
EXAMPLE_MISSING_ASSISTANT_MESSAGE = "example_missing_assistant_message"
NO_TRAINED_MESSAGE = "example_no_trained_message"  # every assistant message has weight 0
INVALID_WEIGHT = "invalid_weight"
WEIGHT_NOT_ON_ASSISTANT = "weight_not_on_assistant"
IMAGE_IN_ASSISTANT = "image_in_assistant"
TOO_MANY_IMAGES = "too_many_images"
INVALID_TOOLS = "invalid_tools"
DPO_OUTPUT = "dpo_output"
FORMAT_ERRORS = (DATA_TYPE, MISSING_MESSAGES_LIST, MESSAGE_MISSING_KEY, MESSAGE_UNRECOGNIZED_KEY, UNRECOGNIZED_ROLE,
                 MISSING_CONTENT, EXAMPLE_MISSING_ASSISTANT_MESSAGE, NO_TRAINED_MESSAGE, INVALID_WEIGHT,
                 WEIGHT_NOT_ON_ASSISTANT, IMAGE_IN_ASSISTANT, TOO_MANY_IMAGES, INVALID_TOOLS, DPO_OUTPUT)

# The cookbook's allowed keys plus the tool-calling ones (facts §2.2).
MESSAGE_KEYS = frozenset({"role", "content", "name", "function_call", "weight", "tool_calls", "tool_call_id"})
ROLES = frozenset({"system", "user", "assistant", "tool", "function"})
MAX_IMAGES = 10  # "Each example can have at most 10 images." (facts §2.3)


@dataclass(frozen=True)
class Problem:
    code: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


def example_kind(record: Any) -> Kind:
    """DPO lines carry ``input`` and the two outputs (facts §2.4); anything else is checked as chat."""
    if isinstance(record, dict) and "input" in record and "messages" not in record:
        return "dpo"
    return "chat"


def check_example(record: Any) -> list[Problem]:
    """Every problem of one example; empty when it is valid."""
    if not isinstance(record, dict):
        return [Problem(DATA_TYPE, "", f"an example must be a JSON object, not {type(record).__name__}")]
    if example_kind(record) == "dpo":
        return _check_dpo(record)
    problems = _check_messages(record.get("messages"), "messages")
    problems += _check_tools(record.get("tools"), "tools")
    messages = record.get("messages")
    if isinstance(messages, list) and messages and not problems:
        assistants = [m for m in messages if m.get("role") == "assistant"]
        if not assistants:
            problems.append(Problem(EXAMPLE_MISSING_ASSISTANT_MESSAGE, "messages",
                                    "no assistant message to learn from"))
        elif all(m.get("weight", 1) == 0 for m in assistants):
            problems.append(Problem(NO_TRAINED_MESSAGE, "messages", "every assistant message has weight 0"))
        problems += _check_image_count(messages, "messages")
    return problems


def _check_dpo(record: dict[str, Any]) -> list[Problem]:
    prompt = record["input"]
    if not isinstance(prompt, dict):
        return [Problem(MISSING_MESSAGES_LIST, "input", "input must be an object with messages")]
    problems = _check_messages(prompt.get("messages"), "input.messages")
    problems += _check_tools(prompt.get("tools"), "input.tools")
    for key in ("preferred_output", "non_preferred_output"):
        output = record.get(key)
        # "the preferred and non-preferred messages need to be the last assistant message" (facts §2.4)
        if not (isinstance(output, list) and len(output) == 1 and isinstance(output[0], dict)
                and output[0].get("role") == "assistant"):
            problems.append(Problem(DPO_OUTPUT, key, "must be a list of exactly one assistant message"))
        else:
            problems += _check_message(output[0], f"{key}.0")
    if not problems:
        problems += _check_image_count(prompt["messages"], "input.messages")
    return problems


def _check_messages(messages: Any, where: str) -> list[Problem]:
    if not isinstance(messages, list) or not messages:
        return [Problem(MISSING_MESSAGES_LIST, where, "missing, empty or not a list")]
    problems = []
    for i, message in enumerate(messages):
        problems += _check_message(message, f"{where}.{i}")
    return problems


def _check_message(message: Any, where: str) -> list[Problem]:
    if not isinstance(message, dict):
        return [Problem(MESSAGE_MISSING_KEY, where, "a message must be an object with role and content")]
    problems = []
    role = message.get("role")
    if "role" not in message:
        problems.append(Problem(MESSAGE_MISSING_KEY, where, "no role"))
    elif role not in ROLES:
        problems.append(Problem(UNRECOGNIZED_ROLE, f"{where}.role", f"unknown role {role!r}"))
    extra = sorted(set(message) - MESSAGE_KEYS)
    if extra:
        problems.append(Problem(MESSAGE_UNRECOGNIZED_KEY, where, f"unknown key(s) {', '.join(map(repr, extra))}"))
    calls = message.get("tool_calls") or message.get("function_call")
    content = message.get("content")
    if role == "assistant" and calls:
        pass  # a tool-calling turn may have no content (the cookbook counted it as missing_content)
    elif "content" not in message and role is not None:
        problems.append(Problem(MESSAGE_MISSING_KEY, where, "no content"))
    elif not _has_content(content):
        problems.append(Problem(MISSING_CONTENT, f"{where}.content", "empty, or neither a string nor a list of parts"))
    if "weight" in message:
        weight = message["weight"]
        if role != "assistant":
            problems.append(Problem(WEIGHT_NOT_ON_ASSISTANT, f"{where}.weight", f"weight on a {role} message"))
        # "The allowed values for weight are currently 0 or 1." (facts §2.1); a bool is not a weight
        elif isinstance(weight, bool) or weight not in (0, 1):
            problems.append(Problem(INVALID_WEIGHT, f"{where}.weight", f"must be 0 or 1, got {weight!r}"))
    if role == "assistant" and _images(message):
        # "You cannot include images as output from messages with the assistant role." (facts §2.3)
        problems.append(Problem(IMAGE_IN_ASSISTANT, f"{where}.content", "images are not allowed in assistant messages"))
    return problems


def _has_content(content: Any) -> bool:
    if isinstance(content, str):
        return bool(content)
    return isinstance(content, list) and bool(content) and all(isinstance(p, dict) for p in content)


def _check_tools(tools: Any, where: str) -> list[Problem]:
    if tools is None:
        return []
    if not isinstance(tools, list):
        return [Problem(INVALID_TOOLS, where, "must be a list")]
    return [Problem(INVALID_TOOLS, f"{where}.{i}", "must be {\"type\": \"function\", \"function\": {\"name\", ...}}")
            for i, tool in enumerate(tools)
            if not (isinstance(tool, dict) and isinstance(tool.get("function"), dict)
                    and isinstance(tool["function"].get("name"), str))]


def _images(message: dict[str, Any]) -> int:
    content = message.get("content")
    if not isinstance(content, list):
        return 0
    return sum(1 for part in content if isinstance(part, dict) and part.get("type") in ("image_url", "input_image"))


def _check_image_count(messages: list[dict[str, Any]], where: str) -> list[Problem]:
    n = sum(_images(m) for m in messages)
    if n > MAX_IMAGES:
        return [Problem(TOO_MANY_IMAGES, where, f"{n} images, at most {MAX_IMAGES} an example")]
    return []
