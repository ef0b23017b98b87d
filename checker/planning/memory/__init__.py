"""vLLM's start-up memory: weights, activation peak, towers, adapters, drafters."""
