"""What crawlfleet's objects are, as plain pydantic models: a job's spec, state,
progress and status, and status conditions. No Redis, no Celery, no Kubernetes
client: every component reads and writes these, and each stores them its own way."""
