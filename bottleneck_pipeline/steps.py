"""The pipeline's steps, in the order they run: one notebook each, ``notebooks/<step>.ipynb``,
whose executed copy (``<step>.ipynb``) and HTML evidence (``<step>.html``) a run keeps.
A light module (no import): the run's record, publishing and the history all name steps."""

from __future__ import annotations

STEPS = ("01_ingestion", "02_cleaning_tests", "03_analysis", "04_export")
NOTEBOOKS = tuple(f"{s}.ipynb" for s in STEPS)  # the executed notebooks a run keeps
HTML = tuple(f"{s}.html" for s in STEPS)  # their HTML evidence


def starting_at(step: str | None) -> tuple[str, ...]:
    """``step`` and the steps after it (every step when ``step`` is empty)."""
    return STEPS[STEPS.index(step) :] if step else STEPS


def before(step: str) -> tuple[str, ...]:
    """The steps that run before ``step``."""
    return STEPS[: STEPS.index(step)]


def number(step: str) -> int:
    """``step``'s place in the run, from 1."""
    return STEPS.index(step) + 1
