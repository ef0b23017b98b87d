"""What vLLM resolves at start-up: settings, lengths, parallelism, versions, releases."""
