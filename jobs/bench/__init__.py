"""Benchmarks: each module measures one capability and prints its numbers next to an in-process baseline."""
