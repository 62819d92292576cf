"""Hostile-input suite: every way a user can break a run, with the outcome each must get."""
