"""``python -m pgexp`` is the ``pgexp`` command."""

import sys

from pgexp.cli import main

sys.exit(main())
