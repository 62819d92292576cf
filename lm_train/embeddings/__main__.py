"""``python -m lm_train.embeddings``: see ``lm_train.embeddings.cli``."""

import sys

from lm_train.embeddings.cli import main

sys.exit(main())
