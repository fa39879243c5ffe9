"""``python -m tritoncore``."""

import sys

from tritoncore.cli import main

sys.exit(main())
