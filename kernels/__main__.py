"""``python -m twinhub.kernels install --sys-prefix``."""

import sys

from twinhub.kernels.install import main

sys.exit(main())
