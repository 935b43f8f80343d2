"""The one exception type users of the library need to catch."""


class SemsearchError(Exception):
    """A problem the user can fix: bad input, a missing index, a locked index, ..."""
