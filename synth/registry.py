"""Name -> object registries: generators, models, targets and tasks are looked up by short names."""
from __future__ import annotations

from typing import Callable, Generic, Iterator, TypeVar

from synth.errors import UserError

T = TypeVar("T")


class Registry(Generic[T]):
    """A mapping from short names to objects that fails loudly on duplicates and unknown names."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator that registers an object under `name`; a duplicate name is a programming error."""

        def deco(obj: T) -> T:
            if name in self._items:
                raise KeyError(f"duplicate {self.kind} name {name!r}")
            self._items[name] = obj
            return obj

        return deco

    def get(self, name: str) -> T:
        """The object registered as `name`, or a UserError listing the valid names."""
        try:
            return self._items[name]
        except KeyError:
            valid = ", ".join(sorted(self._items)) or "(none)"
            raise UserError(f"unknown {self.kind} {name!r}; valid: {valid}") from None

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Registry({self.kind}: {', '.join(self.names())})"
