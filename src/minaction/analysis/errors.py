"""Errors of the analysis that a user can fix; each prints as one line from the command line."""

from minaction.errors import MinactionError


class ResultsFileError(MinactionError):
    """The results database is missing, not SQLite, or has no table of runs."""


class AnalysisError(MinactionError):
    """The runs cannot support the analysis asked for (none completed, a bad option)."""
