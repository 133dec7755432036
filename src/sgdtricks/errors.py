"""Errors a user can fix: printed as one line naming the key or file, never as a traceback."""


class UserError(Exception):
    """Bad input from the user (config value, data file, checkpoint); the message says what to do."""


class ConfigError(UserError):
    """A config value out of range or missing."""


class DataError(UserError):
    """A data file that is missing, unreadable or malformed."""


class RecordError(UserError):
    """A run directory that cannot be continued: a record file that is not a file, or another config's run."""


class CheckpointError(RecordError):
    """A checkpoint that is truncated, foreign, from another config or from code it no longer fits."""
