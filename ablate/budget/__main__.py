"""`python -m ablate.budget`: see `ablate.cli.budget`."""

import sys

from ablate.cli.budget import main

if __name__ == "__main__":
    sys.exit(main())
