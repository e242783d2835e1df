"""The market simulator: an in-process venue (`venue`: matching, with `ledger`, `market`,
`clock`), its in-process Exchange (`exchange`), synthetic markets (`synthetic`) and a
CLOB-compatible HTTP server on top of the venue (`server`, with `routes_*`, `wire`, `auth`,
`http`, `faults`)."""
