"""Offline only: metrics, protocols, baselines, export, prequential scoring."""
