"""``python -m archlab``: the same command line as ``archlab``."""

import sys

from archlab.cli import main

sys.exit(main())
