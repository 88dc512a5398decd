"""What an import tells: the problems that refused the file, or what it did with each row."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

# Called with a stage ("checking", "writing"), the rows done and the rows in all.
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class Problem:
    where: str
    column: str
    message: str

    def __str__(self) -> str:
        column = f", column {self.column}" if self.column else ""
        return f"{self.where}{column}: {self.message}"


@dataclass
class RowOutcome:
    """What the import does (or would do) with one row: new, update or unchanged.

    `organization` is the organization the row writes (for a posts row, the post's), and
    `person` the holder a posts row names (empty when none); `key` is how the row is shown."""

    where: str
    key: str
    action: str
    changes: list[str] = field(default_factory=list)
    organization: str = ""
    person: str = ""


@dataclass
class ImportReport:
    dataset: str
    problems: list[Problem] = field(default_factory=list)
    outcomes: list[RowOutcome] = field(default_factory=list)
    encoding: str = ""
    applied: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems

    def count(self, action: str) -> int:
        return sum(1 for outcome in self.outcomes if outcome.action == action)

    @property
    def changed(self) -> int:
        return self.count("new") + self.count("update")

    def summary(self) -> str:
        if self.problems:
            rows = {problem.where for problem in self.problems}
            return (
                f"Rejected: {len(self.problems)} problem{'s' * (len(self.problems) != 1)} "
                f"in {len(rows)} row{'s' * (len(rows) != 1)}; nothing was written."
            )
        verb = "Imported" if self.applied else "Dry run, nothing written"
        return (
            f"{verb}: {len(self.outcomes)} {self.dataset} rows, {self.count('new')} new, "
            f"{self.count('update')} updated, {self.count('unchanged')} unchanged."
        )
