"""Sections for every input, records for every output, and the profile format. Of ours, imports
only checker.errors."""
