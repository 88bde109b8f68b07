"""Counting inside a Hugging Face ``datasets`` pipeline: a batched function for ``Dataset.map``::

    ds = ds.with_format("arrow").map(count_batch, batched=True, with_indices=True,
                                     fn_kwargs={"model": "gpt-4o-mini", "request_column": None,
                                                "format": "finetune"})

Batches are Arrow tables (``with_format("arrow")``): the job's columns keep their types, where a dict
of Python lists would make a column that is null in the first batch (``delta``, ``tenant``...) unwritable.
``request_column=None`` reads each whole row as the record, as the job reads a Parquet row: a fine-tuning
set's ``messages`` (and ``tools``) columns are then one fine-tuning example. The counter is built once
per process (each ``num_proc`` worker has its own) and kept across batches.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from jobs.arrow import count_table


def count_batch(batch: pa.Table, indices: Sequence[int] | None = None, **kwargs: Any) -> pa.Table:
    """``count_table(batch, **kwargs)``; with ``with_indices=True`` ``source_row`` is the row's index in
    the dataset, else in the batch. A bad record is an error row, never an exception."""
    if not isinstance(batch, pa.Table):
        raise TypeError(f"count_batch takes Arrow batches, got {type(batch).__name__}: map it on "
                        "ds.with_format('arrow')")
    return count_table(batch, first_row=indices[0] if indices else 0, **kwargs)
