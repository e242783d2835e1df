"""The chaos suite's short profile (the full one: `make chaos`, see tests/chaos/chaos.py).

Known findings (reported on issue #11; xfail until fixed, not strict so a fix turns it green):
- make_market fails its whole activity attempt on any transient venue error (one 500 on
  /data/orders while resuming), so under 10 % 5xx a round rarely lives long enough to quote;
- a fill the round did not see before it stopped is in no one's position (venue YES 20, bot 0).
"""

from __future__ import annotations

import pytest
from chaos import SHORT, chaos

pytestmark = pytest.mark.chaos


@pytest.mark.xfail(
    reason="chaos findings in the bot (see the module docstring); the run itself must complete",
    strict=False,
)
def test_short_chaos_run_finds_no_violation(tmp_path_factory: pytest.TempPathFactory) -> None:
    run = chaos(SHORT, seed=11, var=tmp_path_factory.mktemp("chaos"))
    assert run.kills >= SHORT.kills and run.restarts >= SHORT.temporal_restarts
    assert not run.violations, "\n".join(run.violations)
