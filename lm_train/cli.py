"""Command-line plumbing shared by ``lm_train.train``, ``generate`` and ``report``; no torch here.

``--help`` has to answer in well under a second, so these modules parse their arguments
before anything imports torch.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from lm_train.config import describe_keys


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the docstring layout and appends ``(default: X)`` to options that have a default."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "%(default)" in text or any(action.default is v for v in (None, False, argparse.SUPPRESS)):
            return text
        if action.option_strings or action.nargs in (argparse.OPTIONAL, argparse.ZERO_OR_MORE):
            return f"{text} (default: %(default)s)" if text else "(default: %(default)s)"
        return text


def parser(prog: str, description: str | None, epilog: str | None = None) -> argparse.ArgumentParser:
    return argparse.ArgumentParser(
        prog=prog, description=description, epilog=epilog, formatter_class=HelpFormatter
    )


def parse_with_overrides(ap: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse options and ``key=value`` overrides in any order into ``ns.overrides``.

    argparse hands a ``nargs="*"`` positional only the first run of positionals, so
    ``--data D model=gpt --out R max_steps=40`` would leave ``max_steps=40`` unrecognised;
    the leftovers are collected here and each must be ``key=value``.
    """
    ns, extras = ap.parse_known_args(argv)
    overrides = list(getattr(ns, "overrides", None) or [])
    for item in extras:
        if item.startswith("-"):
            fail(ap, f"unrecognized option {item!r}; see --help for the options")
        overrides.append(item)
    for item in overrides:
        key, sep, _ = item.partition("=")
        if not sep or not key or key.startswith("-"):
            fail(
                ap,
                f"argument {item!r} is neither an option nor a key=value override "
                "(e.g. max_steps=40); see --help",
            )
    ns.overrides = overrides
    return ns


def fail(ap: argparse.ArgumentParser, message: str) -> None:
    """Exit 2 with one line on stderr (no usage block to scroll past)."""
    ap.exit(2, f"{ap.prog}: error: {message}\n")


def format_error(prog: str, exc: BaseException) -> str:
    return f"{prog}: error: {type(exc).__name__}: {exc}"


def config_keys_epilog() -> str:
    """Every training config key with its type, default and meaning, grouped as in ``TrainConfig``."""
    rows = describe_keys()
    width = max(len(r.name) for r in rows)
    type_width = max(len(r.type) for r in rows)
    lines = [
        "training config keys (lm_train/config.py, lm_train/models/*_config.py), by section; set them",
        "in --config FILE.yaml (flat, or nested by section) or as key=value, section.key=value:",
    ]
    section = None
    for r in rows:
        if r.section != section:
            section = r.section
            lines.append(f"  {section}:")
        default = _yaml_scalar(r.default)
        line = f"    {r.name:<{width}}  {r.type:<{type_width}}  {default:<8}"
        lines.append(f"{line}  {r.help}".rstrip() if r.help else line.rstrip())
    return "\n".join(lines)


def _yaml_scalar(value: object) -> str:
    """A default as one would type it in ``key=value`` (YAML): ``true``, ``''``, ``0.0003``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return "''" if value == "" else str(value)
