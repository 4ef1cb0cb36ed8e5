"""Errors that are a user's to fix: the CLI prints their message alone, without a traceback."""


class BenchsuiteError(Exception):
    """Base class of every error whose message tells the user what is wrong and how to fix it."""


class ConfigError(BenchsuiteError, ValueError):
    """A bad config: unknown key or name, bad value, conflicting run directory."""


class DataUnavailableError(BenchsuiteError):
    """A dataset or weights file that is not on disk and cannot be downloaded."""


class CheckpointError(BenchsuiteError):
    """A checkpoint that cannot be read (corrupt, truncated, from another config)."""
