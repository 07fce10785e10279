"""Reading data files so that a bad one says where it is bad: file, line, column.

Every ``--data`` command reads through these helpers; the command line turns
a :class:`DataFileError` into one line on stderr and exit status 2.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from pathlib import Path


class DataFileError(ValueError):
    """A data file that is missing, lacks a column, or holds a row that does not parse."""

    def __init__(self, path: Path, problem: str, line: int | None = None) -> None:
        self.path = path
        self.line = line
        self.problem = problem
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {problem}")


def csv_rows(path: Path, columns: Sequence[str]) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row) for every row of a CSV whose header has ``columns``."""
    if not path.is_file():
        raise DataFileError(path, "no such file")
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        try:
            header = reader.fieldnames or []
        except (csv.Error, UnicodeDecodeError) as error:
            raise DataFileError(path, f"unreadable header ({error})", 1) from None
        missing = [column for column in columns if column not in header]
        if missing:
            found = ", ".join(header) or "nothing"
            raise DataFileError(
                path, f"missing column {', '.join(missing)} (the header has {found})", 1
            )
        try:
            for row in reader:
                if any(row.get(column) is None for column in columns):
                    raise DataFileError(
                        path,
                        f"{len(row)} fields where the header has {len(header)}",
                        reader.line_num,
                    )
                yield reader.line_num, row
        except (csv.Error, UnicodeDecodeError) as error:
            raise DataFileError(path, f"unreadable row ({error})", reader.line_num) from None


def whole_number(path: Path, line: int, column: str, text: str) -> int:
    """``text`` as an int, or a :class:`DataFileError` naming the cell."""
    try:
        return int(text)
    except ValueError:
        raise DataFileError(path, f"{column} {text!r} is not a whole number", line) from None


def number(path: Path, line: int, column: str, text: str) -> float:
    """``text`` as a float, or a :class:`DataFileError` naming the cell."""
    try:
        return float(text)
    except ValueError:
        raise DataFileError(path, f"{column} {text!r} is not a number", line) from None
