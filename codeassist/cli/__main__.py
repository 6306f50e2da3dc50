"""``python -m codeassist.cli``."""

import sys

from codeassist.cli import main

sys.exit(main())
