"""Live ranking, as a worker runs it: user state, trending, interest, the event path.

Offline code lives in ``ranker.training`` and ``ranker.eval`` only; the live
path never imports them (import-linter checks it).
"""
