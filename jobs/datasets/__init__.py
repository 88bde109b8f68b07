"""Dataset preprocessing: fine-tuning data checked and costed (``tokcount finetune``), Batch API input
files planned by exact tokens (``tokcount batch``). Both run the batch job (``jobs.job.pipeline.run_job``)
for the counting, so they get its engines, resume and manifest."""
