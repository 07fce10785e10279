"""Runs in a worker and in training: the click model and the features both share.

The model, its artifacts, item encoding, hot reload, and the item features.
"""
