"""``python -m sklearn_samplecnn.cli``: the ``samplecnn`` command."""

import sys

from . import main

sys.exit(main())
