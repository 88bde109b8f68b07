"""The Ray batch job around ``tokcount_core``: read request logs, count, write Parquet + manifest."""
