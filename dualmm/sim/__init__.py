"""The market simulator: an in-process venue (`venue`), synthetic markets (`synthetic`) and a
CLOB-compatible HTTP server on top of the venue."""
