"""Pydantic models for every input, output and the profile format. Imports nothing of ours."""
