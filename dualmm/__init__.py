"""dualmm: a crash-safe Polymarket liquidity-rewards market maker on Temporal."""
