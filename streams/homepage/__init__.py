"""The homepage service: serves the rankings topic over HTTP and as a live web page.

``homefeed serve`` (:mod:`.cli`) runs it. The pieces: :mod:`.store` (latest
ranking per user, merged trending), :mod:`.catalog` (titles and categories),
:mod:`.feed` (the Kafka consumer that fills both), :mod:`.views` (the homepage
JSON), :mod:`.events` (the web backend's producer), :mod:`.auth` (signed user
tokens), :mod:`.middleware` (size limit, latency), :mod:`.metrics` and
:mod:`.app` (FastAPI), and ``static/`` (the page).
"""
