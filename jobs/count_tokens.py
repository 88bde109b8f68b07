"""``python -m jobs.count_tokens INPUT... OUTPUT [options]``: the ``tokcount count`` job as a module,
for ``ray job submit --working-dir . -- python -m jobs.count_tokens ...`` where no console script
is installed."""

from __future__ import annotations

import sys

from jobs.cli import main

if __name__ == "__main__":
    sys.exit(main(["count", *sys.argv[1:]]))
