"""``python -m oodgym`` runs the ``oodgym`` command."""

import sys

from oodgym.cli import main

sys.exit(main())
