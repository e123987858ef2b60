"""``python -m icm_cli``: the ``icm-matting`` command."""

import sys

from icm_cli.cli import main

sys.exit(main())
