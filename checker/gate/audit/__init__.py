"""The nightly audit: every profile on every GPU of a fleet, and its reports."""
