"""``python -m codeassist``."""

import sys

from codeassist.cli import main

sys.exit(main())
