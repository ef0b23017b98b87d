"""Reading vLLM start-up logs back: the figures vLLM measured, per rank, with their lines.

A stage beside models/ in the data flow: it imports schemas/ (and the error root) only.
reader.py reads a log (patterns in checker/data/vllm_log_lines.yaml); request.py rebuilds the plan
request it was started with; compare.py holds a plan against it term by term; failures.py says
what ran out in a failed start and checks the rules' fix.
"""
