"""The exceptions of semsearch: one base the CLI catches, a few kinds a server tells apart.

Every error a user can fix is a :class:`SemsearchError` whose message is meant to be
shown as is.  The subclasses say which kind it is, so an HTTP layer can map them to a
status without parsing messages (``http_status``):

========================  ======  =====================================================
class                     status  raised for
========================  ======  =====================================================
``InvalidArgument``       400     a bad argument: a type, a range, an unknown mode
``NotFound``              404     no such index, document, clustering or cluster
``SettingsMismatch``      409     options that differ from the ones the index was built with
``IndexLocked``           423     another process (or this one) is writing the index
``IndexCorrupt``          500     a database that failed its check: what is wrong, what to do
``ReadOnlyIndex``         403     a write to an index that can only be read
``DiskFull``              507     no space left while writing (nothing committed is lost)
========================  ======  =====================================================
"""

from __future__ import annotations


class SemsearchError(Exception):
    """A problem the user can fix: bad input, a missing index, a locked index, ..."""

    http_status = 400


class InvalidArgument(SemsearchError, ValueError):
    """An argument of the wrong type or out of range."""

    http_status = 400


class NotFound(SemsearchError, LookupError):
    """No such index, document, clustering or cluster."""

    http_status = 404


class SettingsMismatch(SemsearchError):
    """Options that differ from the ones stored in the index."""

    http_status = 409


class IndexLocked(SemsearchError):
    """Another writer holds the index's lock."""

    http_status = 423


class ReadOnlyIndex(SemsearchError):
    """A write was asked of an index that can only be read (permissions, a read-only mount)."""

    http_status = 403


class IndexCorrupt(SemsearchError):
    """The database failed its integrity check; nothing is written into it."""

    http_status = 500


class DiskFull(SemsearchError):
    """The disk filled up during a write; what was committed before is kept."""

    http_status = 507
