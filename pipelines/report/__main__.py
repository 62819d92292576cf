"""``python -m pipelines.report DIR``: the dataset report."""

from pipelines.report import main

raise SystemExit(main())
