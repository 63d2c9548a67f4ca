"""One error root, so the CLI can print any of ours as a clear message and exit non-zero."""


class BidwatchError(Exception):
    """An error a user can act on; its message says what to do."""


class ConfigError(BidwatchError):
    """The program or the settings are invalid."""


class SweepError(BidwatchError):
    """A sweep could not run at all (not: a task failed — tasks fail into coverage)."""
