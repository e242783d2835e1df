"""`python starter.py` = `dualmm orchestrate`: start (or attach to) the bot's workflow."""

import sys

from dualmm.cli import main

if __name__ == "__main__":
    sys.argv[1:1] = ["orchestrate"]
    main()
