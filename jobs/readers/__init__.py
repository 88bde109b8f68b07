"""Where rows come from: one module per kind of source behind one interface (files: JSONL and Parquet;
otlp: OTLP JSON trace files; langfuse: Langfuse observation exports)."""

# Why a logged request is not the request as sent (a record's ``log_loss``): one closed set.
LOG_LOSS = frozenset({
    "content_not_logged",  # no request content kept (content capture off, inputs hidden)
    "truncated",  # a kept value was cut (an attribute length limit, a store's string limit)
    "tools_not_logged",  # the tool definitions (or their schemas) were not kept, or whether there were any
    "format_not_logged",  # the structured-output format (response_format, text.format) was not kept whole
})
