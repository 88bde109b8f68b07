"""Legacy ``/v1/completions`` bodies to segments: the prompt is billed as its tokens alone.

No chat framing: the model reads the prompt text as is (OpenAI's "How to count tokens with tiktoken"
cookbook counts completions prompts with ``len(encoding.encode(text))``; the reference cases'
gpt-3.5-turbo-instruct and text-davinci-003 recordings match it). A list of prompts is a batch,
billed as the sum; token ids are billed one each. A missing prompt is ``<|endoftext|>`` (the API
reference's default), one token.
"""

from __future__ import annotations

from tokcount_core.render.context import RenderContext
from tokcount_core.render.segments import Segment, fixed, text
from tokcount_core.rules import use
from tokcount_core.schema.requests import CompletionsBody


def render_completions(ctx: RenderContext, body: CompletionsBody) -> None:
    prompt = body.prompt
    if prompt is None:
        ctx.segments.append(fixed("overhead", "default prompt <|endoftext|>", 1))
    elif isinstance(prompt, str):
        ctx.segments.append(text("text", "prompt", prompt))
    elif prompt and isinstance(prompt[0], int):
        ctx.segments.append(_ids("prompt", prompt))  # type: ignore[arg-type]
    else:
        ctx.count_items(len(prompt), "prompt")
        for index, one in enumerate(prompt):
            label = f"prompt.{index}"
            ctx.segments.append(text("text", label, one) if isinstance(one, str) else _ids(label, one))
    if body.suffix:
        # Insert mode: how the suffix is framed around the prompt is not documented: counted as text.
        ctx.segments.append(text("text", "suffix", body.suffix))
        use(ctx, "completions.suffix")


def _ids(label: str, ids: list[int]) -> Segment:
    return Segment("text", f"{label} (token ids)", None, len(ids), ids=list(ids))
