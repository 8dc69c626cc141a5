"""Errors of the grid that a user can fix; both print as one line from the command line."""

from minaction.errors import MinactionError


class StoreError(MinactionError):
    """The results database is missing, unreadable, or written by a newer minaction."""


class MissingDependencyError(MinactionError):
    """An optional package is needed for what was asked (Ray, pyarrow)."""


def require(module: str, extra: str, purpose: str):
    """Import and return an optional module, or raise MissingDependencyError saying how to
    install it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise MissingDependencyError(
            f"{purpose} needs the package {module!r}, which is not installed ({err}); "
            f"install it with: pip install 'minaction[{extra}]'"
        ) from None


class GridError(MinactionError):
    """A grid cannot go on: its workers keep dying, or an option does not fit the backend."""
