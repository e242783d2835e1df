"""Pure trading logic: no I/O, no Temporal. Every decision the bot makes lives here."""
