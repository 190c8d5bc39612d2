"""The project's own errors and warnings: every message names the file, the key and the fix."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a prior file.

    Attributes:
        file: the file the offending key comes from.
        key: dotted key path inside the merged priors, e.g. ``companies.openai.cash0``.
        message: what is wrong and what is allowed.
    """

    file: Path | None
    key: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}: " if self.file is not None else ""
        key = f"{self.key}: " if self.key else ""
        return f"{where}{key}{self.message}"


class PriorError(ValueError):
    """A prior file is invalid. ``problems`` lists every problem found; ``str()`` shows them all."""

    def __init__(self, problems: list[Problem] | Problem, head: str = "invalid priors"):
        self.problems: tuple[Problem, ...] = (
            (problems,) if isinstance(problems, Problem) else tuple(problems)
        )
        lines = [str(p) for p in self.problems]
        head = head if len(lines) == 1 else f"{head} ({len(lines)} problems)"
        super().__init__(head + ":\n  " + "\n  ".join(lines))


class PriorWarning(UserWarning):
    """Something in a prior file was repaired or looks suspicious, but the file loads."""


class RunError(RuntimeError):
    """A simulation or a run folder failed a check (NaN in an output, a bad run folder)."""
