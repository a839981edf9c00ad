"""`python -m dpr_nb.cli`: the dpr-nb command, where the script is not on PATH."""

import sys

from . import main

sys.exit(main())
