"""Answers over a job's output: the usage audit (``audit``), effective-dated prices (``pricing``), the
cost report (``cost``), and their charts and HTML."""
