"""Errors that stop an import."""
from __future__ import annotations


class ImportFileError(ValueError):
    """The file cannot be imported: not CSV/Parquet, missing columns, bad --map, or (see
    :class:`DamagedInputError`) unreadable part-way. The CLI turns it into exit code 2.

    Whole-file problems are raised before anything is written; the message of an error met
    part-way says what was loaded before it.
    """


class DamagedInputError(ImportFileError):
    """The input stopped being readable part-way (cut-short or corrupt gzip, a byte that is not
    text in the file's encoding, an unreadable Parquet row group).

    ``line`` is where the damage is, as the reader counts lines (CSV: the physical line, header
    = 1; Parquet: the row). The reader does not know what was committed before; the runner
    completes the message with that (:meth:`with_outcome`).
    """

    def __init__(self, path: object, line: int, problem: str, unit: str = "line") -> None:
        self.path = path
        self.line = line
        self.problem = problem
        self.unit = unit
        super().__init__(f"{path}: {unit} {line:,}: {problem}")

    def with_outcome(self, loaded: str) -> ImportFileError:
        """The same error with what the import loaded before it appended."""
        return ImportFileError(f"{self}. {loaded}")
