"""The KV cache as vLLM lays it out: pages, groups, dtypes, backends, states."""
