"""Entry point for `python -m inspectors`."""

import sys

from inspectors.cli import main

sys.exit(main())
