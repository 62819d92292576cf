"""Real-text benchmark corpus, built from Debian packages (see README.md)."""
