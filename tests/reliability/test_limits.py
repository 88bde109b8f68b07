"""Every ``Limits`` field, set in a job config, turns a record over it into a ``too_large`` row; and
what a huge line costs the job in memory (it is read whole; see tests/data/bad/README.md)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from jobs.config import JobConfig
from jobs.job.counting import RowCounter
from tests.data.bad.corpus import MB, body, data_url, deep_schema, file_part, image, pdf, png, tool, user
from tests.jobs.conftest import REPO, read_output
from tokcount_core import Limits

# limit -> (a small value for it, a line over that value but within every default limit)
OVER: dict[str, tuple[int, bytes]] = {
    "max_record_bytes": (100, body(input="a" * 200)),
    "max_depth": (5, body(input="a", tools=[tool("f", deep_schema(10))])),
    "max_items": (10, body(input=[user({"type": "input_text", "text": "a"}, image(8, 8))] * 20)),
    "max_text_chars": (100, body(input="a" * 200)),
    "max_media_bytes": (1000, body(input=[user({"type": "input_image",
                                                "image_url": data_url("image/png", png(8, 8) + bytes(2000))})])),
    "max_images": (2, body(input=[user(*[image(8, 8)] * 3)])),
    "max_pdf_pages": (2, body(input=[user(file_part(pdf(pages=3)))])),
}


def outcome(line: bytes, **limits: int) -> tuple[str | None, str | None]:
    """The row's (error_code, error_message) under a job config with these limits."""
    row = RowCounter(JobConfig(limits=limits)).count_line("in.jsonl", 0, line)
    return row.get("error_code"), row.get("error_message")


def test_every_limit_has_a_case():
    assert set(OVER) == set(Limits.model_fields)


@pytest.mark.parametrize("limit", sorted(OVER))
def test_a_record_over_a_configured_limit_is_too_large(limit):
    value, line = OVER[limit]
    assert outcome(line) == (None, None), "the case must be fine under the default limits"
    code, message = outcome(line, **{limit: value})
    assert code == "too_large", message


def ref_fanout(levels: int, fan: int) -> bytes:
    """Each schema definition refers to the next ``fan`` times: fan**levels leaves from ~2 KB."""
    names = [f"L{i}" for i in range(levels)]
    defs = {name: {"type": "object", "properties": {
        f"p{j}": {"$ref": f"#/$defs/{names[i + 1]}"} if i + 1 < levels else {"type": "string"} for j in range(fan)}}
        for i, name in enumerate(names)}
    schema = {"type": "object", "properties": {"root": {"$ref": "#/$defs/L0"}}, "$defs": defs}
    return body(input="a", tools=[tool("f", schema)])


def test_a_ref_fanout_schema_is_refused_before_it_is_expanded():
    """10**8 leaves from 2 KB: the renderer's type budget says too_large at once."""
    code = ("import sys; from tokcount_core import count, Limits; "
            "print(count(sys.stdin.buffer.read(), limits=Limits(max_text_chars=1_000_000)).error_code)")
    try:
        proc = subprocess.run([sys.executable, "-c", code], input=ref_fanout(8, 10), capture_output=True, timeout=5)
    except subprocess.TimeoutExpired:
        raise AssertionError("still expanding after 5 s") from None
    assert proc.stdout.strip() == b"too_large", proc.stderr[-2000:]


def test_max_items_also_bounds_string_messages():
    assert outcome(body(input=[{"role": "user", "content": "a"}] * 20), max_items=10)[0] == "too_large"


@pytest.mark.slow
def test_a_200mb_line_is_refused_unparsed_and_memory_grows_with_the_line_only(tmp_path):
    """The line is read whole (its length decides), so peak RSS grows by a few times the line,
    never by the file; it is never parsed. Measured: ~3x in-process (see the corpus README)."""
    huge = body(input="a " * (100 * MB))
    (tmp_path / "huge.jsonl").write_bytes(huge + b"\n" + body(input="small") + b"\n")
    (tmp_path / "small.jsonl").write_bytes(body(input="small") + b"\n")
    size = len(huge)
    del huge
    # VmHWM, not ru_maxrss: the latter keeps the forking parent's peak (this test process's).
    probe = ("import re, sys; from jobs.cli import main; code = main(sys.argv[1:]); "
             "status = open('/proc/self/status').read(); "
             "print(int(re.search(r'VmHWM:\\s+(\\d+) kB', status)[1]) * 1024, file=sys.stderr); sys.exit(code)")

    def peak_rss(name: str) -> int:
        proc = subprocess.run([sys.executable, "-c", probe, "count", str(tmp_path / name), str(tmp_path / name[:-6]),
                               "--in-process", "--quiet"], cwd=REPO, capture_output=True, text=True, check=True)
        return int(proc.stderr.strip().splitlines()[-1])

    growth = peak_rss("huge.jsonl") - peak_rss("small.jsonl")
    assert growth < 5 * size, f"peak RSS grew by {growth / size:.1f}x the line"
    rows = read_output(tmp_path / "huge").to_pylist()
    assert [r["error_code"] for r in rows] == ["too_large", None]
    assert f"line is {size} bytes, over {32 * 1024 * 1024}" in rows[0]["error_message"]  # length check only
