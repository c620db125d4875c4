"""``python -m hubbub`` is the ``hubbub`` command."""

import sys

from .cli import main

sys.exit(main())
