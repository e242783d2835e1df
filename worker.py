"""`python worker.py` = `dualmm worker`: a Temporal worker for both workflows and all activities."""

import sys

from dualmm.cli import main

if __name__ == "__main__":
    sys.argv[1:1] = ["worker"]
    main()
