"""``python -m jobs.bench``: the batch job's benchmark (``jobs.bench.job``)."""

import sys

from jobs.bench.job import main

sys.exit(main())
