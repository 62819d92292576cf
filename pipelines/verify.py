"""``python -m pipelines.verify DIR``: check a dataset directory (``pipelines.dataset.verify``)."""

from pipelines.dataset.verify import main

if __name__ == "__main__":
    raise SystemExit(main())
