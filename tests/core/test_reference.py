"""Every reference case (real requests with the count OpenAI reported) against the counter.

Prints the exact-match table per group and fails if a group drops below the rate reached so far,
if a new case lands beyond 2% without being flagged, or if an unknowable case comes back silently
wrong. Raise a floor when a rule improves it; never lower one to make a change pass.
"""

from __future__ import annotations

import pytest

from tests.core.reference import CASE_FILES, UNKNOWABLE_FILES, group, load, source_of
from tests.core.report import Rows, by_key, evaluate, exact, rates, silent, table
from tokcount_core import count

# Exact-match floors per group of cases.jsonl.gz, as reached by rules_version 2026.12.1 (97.9%).
FLOORS = {
    "chat/images": 0.89,
    "chat/json_schema": 0.99,
    "chat/text": 0.99,
    "chat/tool_history": 1.0,
    "chat/tools": 0.985,
    "responses/images": 1.0,
    "responses/json_schema": 0.78,
    "responses/text": 0.92,
    "responses/tool_history": 1.0,
    "responses/tools": 0.946,
}
OVERALL_FLOOR = 0.979

# (exact floor, unflagged-and-wrong ceiling) per file and per source, as reached by this rules_version.
# cases2..cases4 hold apps whose traffic the first rules were not derived from. Tighten, never loosen.
RATE_BOUNDS = {
    "cases.jsonl.gz": (0.979, 0.009),
    "cases2.jsonl.gz": (0.969, 0.019),
    "cases3.jsonl.gz": (0.953, 0.004),
    "cases4.jsonl.gz": (0.987, 0.007),
    "AgentOps-AI/agentops": (0.999, 0.001),
    "Arize-ai/openinference": (0.992, 0.001),
    "BoxcarsAI/boxcars": (0.986, 0.014),
    "Future-House/aviary": (0.91, 0.036),
    "Future-House/ldp": (0.995, 0.001),
    "Future-House/llm-client": (0.999, 0.001),
    "Future-House/paper-qa": (0.998, 0.002),
    "MagnivOrg/prompt-layer-library": (0.999, 0.001),
    "Mirascope/mirascope": (0.943, 0.013),
    "Significant-Gravitas/Auto-GPT-test-cassettes": (0.999, 0.001),
    "activeagents/activeagent": (0.99, 0.004),
    "alexrudall/ruby-openai": (0.999, 0.001),
    "coder/aibridge": (0.571, 0.429),
    "crewAIInc/crewAI": (0.992, 0.004),
    "crmne/ruby_llm": (0.998, 0.002),
    "elastic/elastic-otel-python-instrumentations": (0.999, 0.001),
    "hmarr/openai-chat-tokens": (0.999, 0.001),
    "instructor-ai/instructor-rb": (0.916, 0.001),
    "jackmpcollins/magentic": (0.999, 0.001),
    "khasinski/ruby_llm-responses_api": (0.999, 0.001),
    "kieranklaassen/ruby_llm-skills": (0.999, 0.001),
    "kokuyouwind/rbs_goose": (0.999, 0.001),
    "langchain-ai/langchain-azure": (0.999, 0.001),
    "langchain-ai/langgraph": (0.963, 0.004),
    "langchain-ai/langsmith-sdk": (0.861, 0.139),
    "livingbio/gpt-fn": (0.999, 0.001),
    "lmnr-ai/lmnr-python": (0.838, 0.065),
    "newrelic/newrelic-python-agent": (0.981, 0.019),
    "noelblaschke/ruby_llm-responses_api": (0.999, 0.001),
    "open-telemetry/opentelemetry-python-contrib": (0.975, 0.013),
    "openai/openai-cookbook": (0.999, 0.001),
    "openai/openai-dotnet": (0.992, 0.001),
    "openai/openai-node": (0.846, 0.001),
    "openai/openai-openapi": (0.333, 0.667),
    "pamelafox/openai-messages-token-helper": (0.999, 0.001),
    "patterns-ai-core/langchainrb": (0.999, 0.001),
    "patvice/ruby_llm-mcp": (0.89, 0.001),
    "pydantic/logfire": (0.941, 0.059),
    "pydantic/pydantic-ai": (0.932, 0.033),
    "rosnik-ai/rosnik-python": (0.999, 0.001),
    "scope3data/scope3ai-py": (0.5, 0.5),
    "simonw/llm": (0.999, 0.001),
    "simonw/llm-openai-plugin": (0.999, 0.001),
    "sublayerapp/sublayer": (0.999, 0.001),
    "tidyverse/ellmer": (0.941, 0.006),
    "tmc/langchaingo": (0.967, 0.001),
    "traceloop/openllmetry": (0.999, 0.001),
    "traceloop/openllmetry-js": (0.999, 0.001),
}

# Unflagged cases further than 2% from OpenAI's count, by what we know of them. A case that
# leaves this list (because a rule now explains it) is welcome; one that joins it fails the test.
OUTLIERS = {
    # Recordings that cannot be what the request as stored cost: the evidence for each.
    "noise": {
        "openinference-77": "gpt-4o-mini recorded 2023-12, seven months before the model existed",
        "pydanticai-211": "gpt-5 recorded 2025-03, before gpt-5 existed (previous_response_id test)",
        "pydanticai-345": "gpt-5 recorded 2025-03, before gpt-5 existed",
        "mirascope-589": "usage reported as 0 input tokens", "mirascope-636": "usage reported as 0",
        "pydanticai-337": "usage reported as 0 (a retry test)",
        "pydanticai-453": "retry test: half our count (21 of 42), usage of a different attempt",
        "mirascope-227": "half our count (36 of 73); 19 recordings of the same conversation are exact",
        "mirascope-674": "half our count (36 of 73), as mirascope-227",
        "crewai-1429": "same cassette as crewai-1430, both off in opposite directions (-11, +18)",
        "crewai-1430": "same cassette as crewai-1429",
        "crewai-8": "Azure test double (fake-azure-endpoint), 1 below a plain user message",
        "logfire-1": "1 below a plain string input; 13 other gpt-4.1 Responses text calls are exact",
        "pydanticai-341": "1 below a plain user message; the only computer-use-preview case",
        "pydanticai-377": "3 short; the 4 other cases of its compaction test are exact",
        "pydanticai-256": "undated input_tokens call: 12 for a 10-token sentence plus 7 of framing",
        # langsmith-sdk's _runner.yaml was recorded 2025-03-05 (b711fadda) with the tool description "Saves
        # the prefered response"; its "Fixed typos." commit (050fb51, 2025-09-01) changed the stored request
        # to "preferred" (1 token fewer in o200k) and kept the recorded usage. The cassette version before
        # the fix (langsmith-71..85, the same 15 requests) is exact; these are 1 under, as the API would be.
        **{f"langsmith-{n}": "request text edited after recording (a typo fix), usage kept"
           for n in (*range(45, 50), *range(61, 71))},
    },
    # Launch-era docs examples with no recording date (the March 2025 +18 era applies; README rule 5).
    "undated_march_2025_docs": {"openapi-1": "docs example, 36", "openapi-2": "docs example, 37"},
    # Undated / single-recording Responses tool schemas, 3 off; the shapes that rules contradict
    # (unions, strict arrays of commented objects) are flagged instead (render/tools.py).
    "schema_rendering": {"pydanticai-113": "undated, gpt-4.1-mini, +3", "pydanticai-212": "gpt-5, -3"},
    # March 2025 Responses with tools and o3-mini in that era: too few cases to fit.
    # From the apps the rules were not derived from (cases2/cases3).
    "new_apps": {
        "activeagent-29": "2 parallel calls recorded 2025-11 report 43 of 87: the known 1/k recording artefact",
        "lmnr-2": "a call replayed by id without its +3; about 100 such calls in 6 apps keep it (server state)",
    },
    # cases4 (apps added with issue 21), unflagged and beyond 2% when they were added.
    "cases4": {
        "scope3-1": "identical request also reported 34016, our count (image of 4o-mini): server state",
        "scope3-2": "same conversation as scope3-1, reported once at the gpt-4o image price",
        "boxcars-208": "gpt-3.5-turbo-0301 2023-04; identical request also reported 226: server state",
        "boxcars-211": "gpt-3.5-turbo-0301 2023-04, 14 under, the same prompt as boxcars-208",
        "boxcars-213": "gpt-3.5-turbo-0301 2023-04, 14 under, the same prompt as boxcars-208",
        "boxcars-215": "gpt-3.5-turbo-0301 2023-04, 14 under, the same prompt as boxcars-208",
        "boxcars-289": "gpt-3.5-turbo-0301 2023-03, 1 over on 13 tokens",
        "oainode-7": "gpt-4o tool with minLength/maxLength and $schema, 13 under: not yet explained",
        "oainode-15": "the same request as oainode-7",
        "aviary-2": "gpt-5-mini image inside a tool message with a text part, 14 under: not yet explained",
        "aviary-14": 'gpt-5-mini with tool_choice "required", 6 over; aviary-15 of the same day is 1 under',
    },
    "march_2025_tools": {"pydanticai-340": "o3-mini, 2025-03", "pydanticai-768": "o3-mini, 2025-04",
                         "aibridge-1": "undated gpt-5.4 with tools"},
}
# Hidden-context cases that come back unflagged and wrong, with what is known of each.
UNKNOWABLE_EXCEPTIONS = {
    "unknowable.jsonl.gz": {"rubyllm-131": "cassette scrubber placeholder replaced the request text"},
    # Azure deployments whose body says gpt-4 while gpt-4.1 ran (the deployment's model is in the URL
    # only): all exact when counted with ``model="gpt-4.1"``, as the job's ``fields.model`` allows.
    "unknowable2.jsonl.gz": {f"activeagent-u{n}": "Azure deployment: gpt-4.1 ran, the body says gpt-4"
                             for n in (5, 7, 8, 10, 12, 14)},
}


@pytest.fixture(scope="module")
def evaluated() -> dict[str, Rows]:
    return {name: evaluate(load(name)) for name in CASE_FILES}


def test_reference_exact_match_rates(evaluated, report_lines):
    rows = evaluated["cases.jsonl.gz"]
    by_group = by_key(rows, group)
    report_lines.append("cases.jsonl.gz (the apps the rules were first derived from), per group:")
    report_lines.extend(table(by_group).splitlines())
    assert rates(rows)[0] >= OVERALL_FLOOR
    for name, group_rows in by_group.items():
        rate = rates(group_rows)[0]
        assert rate >= FLOORS[name], f"{name}: {rate:.1%} < floor {FLOORS[name]:.0%}"


def test_exact_and_unflagged_wrong_rates_per_file_and_source(evaluated, report_lines):
    """Every file and every source keeps its exact rate and its share of unflagged wrong counts."""
    report_lines.extend(table({name: rows for name, rows in evaluated.items()}, "file").splitlines())
    everything = [row for rows in evaluated.values() for row in rows]
    report_lines.extend(table(by_key(everything, source_of), "source").splitlines())
    failures = []
    for name, rows in [*evaluated.items(), *by_key(everything, source_of).items()]:
        hit, wrong = rates(rows)
        floor, ceiling = RATE_BOUNDS[name]
        if hit < floor or wrong > ceiling:
            failures.append(f"{name}: exact {hit:.1%} (floor {floor:.1%}), unflagged wrong {wrong:.1%} "
                            f"(ceiling {ceiling:.1%})")
    assert not failures, failures


# Issue 21: "at most 10% of exact counts on the shared files are flagged. A flag on everything is not an
# answer." A rule or coverage change that flags exact counts wholesale fails here.
FLAGGED_EXACT_CEILING = 0.10


def test_flags_stay_meaningful(evaluated, report_lines):
    exact_rows = [(c, r) for rows in evaluated.values() for c, r in rows if exact(c, r)]
    share = sum(r.estimated for _, r in exact_rows) / len(exact_rows)
    report_lines.append(f"flagged share of exact counts: {share:.2%} of {len(exact_rows)} "
                        f"(ceiling {FLAGGED_EXACT_CEILING:.0%})")
    assert share <= FLAGGED_EXACT_CEILING


def test_every_request_the_api_accepted_is_counted(evaluated):
    """Every reference case was answered with HTTP 200: none may become an error row."""
    errors = [(c["id"], r.error_code, r.error_message) for rows in evaluated.values() for c, r in rows
              if r.error_code]
    assert not errors, errors


def test_the_rest_is_close_flagged_or_explained(evaluated):
    known = set().union(*OUTLIERS.values())
    unexplained = []
    for case, result in (row for rows in evaluated.values() for row in rows):
        want = case["expected_input_tokens"]
        if not silent(case, result):
            continue
        if abs(result.input_tokens - want) > 0.02 * want and case["id"] not in known:
            unexplained.append((case["id"], case["model"], result.input_tokens, want))
    assert not unexplained, unexplained


def test_seed_example():
    assert count({"model": "gpt-5", "input": "Tell me a joke."}).input_tokens == 11


@pytest.mark.parametrize("name", UNKNOWABLE_FILES)
def test_unknowable_cases_are_exact_or_flagged(name, report_lines):
    wrong = []
    outcomes = {"exact": 0, "flagged": 0, "known_wrong": 0}
    for case, result in evaluate(load(name)):
        if result.estimated or result.error_code:
            outcomes["flagged"] += 1
            assert result.error_code or result.estimate_reasons
        elif exact(case, result):
            outcomes["exact"] += 1
        elif case["id"] in UNKNOWABLE_EXCEPTIONS.get(name, {}):
            outcomes["known_wrong"] += 1
        else:
            wrong.append((case["id"], case["model"], result.input_tokens, case["expected_input_tokens"]))
    report_lines.append(f"{name}: {outcomes}, silently wrong: {len(wrong)}")
    assert not wrong, wrong


def test_details_are_never_negative_and_add_up(evaluated):
    for case, result in (row for rows in evaluated.values() for row in rows):
        details = result.input_tokens_details
        if details is None:
            continue
        assert details.total() == result.input_tokens, case["id"]
        assert min(details.model_dump().values()) >= 0, (case["id"], details)
