"""Runs in a worker: the ranking stages; ``stage_list`` lists them in order.

Candidate sources → filters → scorer → selectors → side effects.
"""
