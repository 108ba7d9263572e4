"""The FastAPI gateway: submit jobs, follow them, read their items."""
