"""APScheduler jobs (issue 4): thin wrappers that call the domain with an injected clock."""
