"""Synthetic reward markets fitted to real ones: one generator for the backtest and the simulator.

`markets` draws a market (facts, competition, book), `walk` its midpoint path, `calibration`
holds the fitted parameters and the statistics they were fitted on, `competition` the other
reward makers.
"""
