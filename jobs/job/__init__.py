"""The batch job: plan, engines, workers, output, resume. ``tokcount count`` and the commands built on it run it."""
