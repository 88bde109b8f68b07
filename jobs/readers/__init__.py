"""Where rows come from: one module per kind of source behind one interface (files: JSONL and Parquet)."""
