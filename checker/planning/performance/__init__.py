"""Serving estimates: the roofline step, the scheduler model, request lengths."""
