"""The engine's error types: one base, so that a caller can tell a problem a person can fix from a bug.

Every error the engine raises on purpose derives from `EngineError`, and its message says what is wrong and what
to do. The command line prints such errors as one `error: ...` line; anything else is a bug and keeps its
traceback.
"""


class EngineError(Exception):
    """A problem with the input, the configuration or the world, explained by its message."""


class NotFoundError(EngineError, KeyError):
    """An id (clip, video, model, run, dataset) or a path that does not exist.

    Also a `KeyError`, so lookups that used to raise one keep working for their callers.
    """

    def __str__(self) -> str:
        # KeyError quotes its argument as if it were a key; this is a sentence.
        return str(self.args[0]) if self.args else ""
