import sys

from lm_train.export.cli import main

sys.exit(main())
