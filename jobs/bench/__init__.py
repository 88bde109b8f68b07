"""Benchmarks: ``python -m jobs.bench`` (the batch job against raw tiktoken, LiteLLM and itself) and
``python -m jobs.bench.serve`` (the HTTP server)."""
