"""``python -m animatepainter.cli``: the ``animatepainter`` program."""

import sys

from animatepainter.cli import main

sys.exit(main())
