"""`dualmm backtest`: the whole bot in simulated time, single- and dual-market mode side by side.

A driver over the domain, not a second strategy: markets are picked by the discovery ranking,
quoted with `desired_quotes`/`needs_requote`, handed over at `position_limit_reached` and
liquidated by the engine's `step`; rewards come from `dualmm.domain.rewards`.

  markets.py      a market's midpoint, touch and competing book over time, and how orders fill
                  (queue position: `dualmm.domain.queue`)
  inputs.py       scenario JSON and recorded books and trades (resolvedkit's Parquet layout)
  synthetic.py    the seeded market generator behind `--synthetic`
  flow.py         the synthetic markets' taker flow, uninformed and informed
  markouts.py     how the midpoint moved after our fills
  liquidation.py  one hand-over, liquidated as `dualmm replay` does it
  engine.py       the bot's loop, minute by minute, in one mode
  runs.py         the jobs (seed x flag combination, every mode and fill bound) on both cores
  paired.py       dual against single over paired seeds: intervals, where the difference is
  report.py       the figures per mode and the dual/single ratios; table and JSON
  plot.py         `--plot`: cumulative rewards and net P&L of both modes and bounds, markouts
  cli.py          the command, paired seeds, `--sweep` (walk-forward)
"""
