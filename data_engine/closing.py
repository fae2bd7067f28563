"""Objects that hold something until `close()` (a worker thread, connections, a progress bar): a `with` block
closes them also when its body fails."""

from abc import ABC, abstractmethod
from types import TracebackType
from typing import Self


class Closing(ABC):
    """Use in a `with` block: it closes on the way out, whatever happened inside."""

    @abstractmethod
    def close(self) -> None:
        """Release what the object holds; safe to call again."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()
