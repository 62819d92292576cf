"""The clean stage's rules, one module per family, run in the order of ``registry.RULES``.

A rule is a function (or a measure and a decision) plus one ``Rule`` entry in
``registry.py`` naming what it drops or removes, the measures it keeps, the thresholds
it reads and the presets that run it. The cleaner and the what-if report both walk that
one list, so the two cannot disagree about which rules exist or in which order they run.
"""
