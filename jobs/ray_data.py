"""Counting inside a Ray Data pipeline: one ``CountTokens`` per actor, a batch in, the batch with the job's
columns out::

    ds.map_batches(CountTokens, fn_constructor_kwargs={"model": "gpt-4o-mini"}, concurrency=4,
                   batch_format="pyarrow")

Each actor builds its counter (registry, limits, every encoder) once, in ``__init__``, as the job's own
Ray actors do, so batches only count. The columns are ``jobs.arrow.count_table``'s.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from jobs.arrow import count_with, job_config
from jobs.job.counting import RowCounter


class CountTokens:
    """A Ray Data callable class; the constructor takes ``count_table``'s keyword arguments.

    Ray hands batches without their place in the dataset, so ``source_row`` is the row's index in its
    batch and ``source_file`` is ``source_file`` (default null): keep your own id column to find a row.
    """

    def __init__(self, *, request_column: str | None = "request", model: str | None = None,
                 columns: Sequence[str] | None = None, source_file: str | None = None, **options: Any):
        self.counter = RowCounter(job_config(model, **options), eager=True)
        self.request_column, self.columns, self.source_file = request_column, columns, source_file

    def __call__(self, batch: pa.Table) -> pa.Table:
        return count_with(self.counter, batch, request_column=self.request_column, columns=self.columns,
                          source_file=self.source_file)
