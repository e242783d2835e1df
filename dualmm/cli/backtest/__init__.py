"""`dualmm backtest`: the command and its flags (command.py), the settings, seeds and levels
they ask for (settings.py), running the jobs (run.py) and printing the results (output.py)."""

from dualmm.cli.backtest.command import register

__all__ = ["register"]
