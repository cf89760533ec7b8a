"""Errors a user can fix: the CLI prints their message as one sentence and exits with 2."""


class UserError(ValueError):
    """Bad input (spec, config, option, file); the message is one sentence."""


class SpecError(UserError):
    """A spec or config that cannot describe a network; the message is one sentence."""


class Interrupted(UserError):
    """Ctrl-C (or SIGTERM) stopped the work; the CLI exits with 130 as shells expect."""
