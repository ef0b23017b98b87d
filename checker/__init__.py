"""vllm-wizard: check vLLM serving profiles the way vLLM sizes memory at start-up."""

__version__ = "0.1.0"
