"""One object's fields copied under the same names: into a record built from another, or into a JSON document, so
that a list of fields is written once instead of as `name=source.name` line after line."""

from typing import Any


def attributes(source: object, *names: str) -> dict[str, Any]:
    """`{name: source.name}` for each of `names`, in their order (a JSON document keeps that key order)."""
    return {name: getattr(source, name) for name in names}
