"""Exception types. Every error a user can cause derives from MinactionError.

The command line turns a MinactionError into one line on stderr and a non-zero exit, without a
traceback; anything else is a bug and keeps its traceback.
"""


class MinactionError(Exception):
    """An error caused by input the user can fix: the message says what and how."""


class ConfigError(MinactionError, ValueError):
    """A setting has a value that is not accepted."""


class UnknownNameError(ConfigError, KeyError):
    """A model, dataset or cost table name that is not registered."""

    def __str__(self) -> str:  # KeyError would wrap the message in quotes
        return str(self.args[0]) if self.args else ""


class DatasetUnavailableError(MinactionError):
    """A dataset cannot be loaded here: not cached, not installed and not downloadable."""


class DataIntegrityError(MinactionError):
    """A data file exists but is corrupt, truncated or not in the expected format."""


class DivergedError(MinactionError):
    """Training produced a loss that is NaN or infinite."""

    def __init__(self, epoch: int, step: int, loss: float):
        super().__init__(
            f"training diverged at epoch {epoch}, step {step}: loss = {loss}; "
            "try a smaller learning rate or λ"
        )
        self.epoch = epoch
        self.step = step
        self.loss = loss
