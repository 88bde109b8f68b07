"""Benchmarks: ``python -m jobs.bench`` (the batch job against raw tiktoken, LiteLLM and itself)."""
