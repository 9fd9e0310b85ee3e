"""`python -m ablate.describe`: see `ablate.cli.describe`."""

import sys

from ablate.cli.describe import main

if __name__ == "__main__":
    sys.exit(main())
