"""`python -m ablate.report`: see `ablate.cli.report`."""

import sys

from ablate.cli.report import main

if __name__ == "__main__":
    sys.exit(main())
