"""The kopf operator: reconciles ScrapeJobs and scales worker pools."""
