"""Reading vLLM start-up logs back: the figures vLLM measured, per rank, with their lines.

A stage beside models/ in the data flow: it imports schemas/ (and the error root) only.
"""
