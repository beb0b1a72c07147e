"""One exception type for every problem the *user* can fix.

The CLI turns an :class:`LSEError` into a one-line message and a non-zero exit code, never a
traceback. Library callers get an ordinary exception (a ``ValueError`` subclass, so code that
already validates with ``ValueError`` keeps working).
"""


class LSEError(ValueError):
    """Bad input, a missing resource, or a corrupt file: the message says which and how to fix it."""
