"""Plumbing every Beam stage shares: options, runner, accounting, outputs, progress."""
