"""What is wrong with an uploaded CSV, by row and column: one shape for every import.

The catalogue import, the competitor import and the `recommend` command all refuse a file as a
whole and list every problem, so the merchant fixes the file once. Rows are numbered as a
spreadsheet numbers them: the header is row 1 (0 for the file as a whole).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class CsvProblem(BaseModel):
    model_config = ConfigDict(frozen=True)

    row: int
    column: str | None
    reason: str

    def __str__(self) -> str:
        where = f"row {self.row}" + (f", column {self.column}" if self.column else "")
        return f"{where}: {self.reason}"


class CsvRejectedError(ValueError):
    """The file cannot be used; `problems` lists every reason. Not retryable: the file must change."""

    retryable = False

    def __init__(self, problems: list[CsvProblem]) -> None:
        self.problems = problems
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(f"{problems[0]}{more}")


class CsvTooLargeError(CsvRejectedError):
    """Over the size limit: refused before it is read (HTTP 413)."""
