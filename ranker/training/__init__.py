"""Offline only: examples from logs, the training loop, the served log as negatives."""
