"""One object's fields taken under the same names: into a record built from another, a JSON document or a total, so
that a list of fields is written once instead of as `name=source.name` line after line."""

from typing import Any


def attributes(source: object, *names: str) -> dict[str, Any]:
    """`{name: source.name}` for each of `names`, in their order (a JSON document keeps that key order)."""
    return {name: getattr(source, name) for name in names}


def add_attributes(total: object, part: object, *names: str) -> None:
    """Add each of `part`'s counters `names` to `total`'s counter of the same name."""
    for name in names:
        setattr(total, name, getattr(total, name) + getattr(part, name))
