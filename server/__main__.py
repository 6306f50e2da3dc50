"""``python -m codeassist.server``: same as ``codeassist serve``."""

import sys

from codeassist.cli import main

sys.exit(main(["serve", *sys.argv[1:]]))
