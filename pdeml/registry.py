"""Name -> factory registries (problems, models, benchmarks) with errors that list the known names."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class UnknownNameError(KeyError, ValueError):
    """Raised for a name that is not registered; the message lists the known names.

    A ``KeyError`` for lookups, and a ``ValueError`` like every other bad value a user gives.
    """

    def __str__(self) -> str:  # KeyError quotes its argument; show the plain message
        return str(self.args[0])


class _Lazy:
    def __init__(self, target: str):
        self.target = target

    def resolve(self):
        import importlib

        module, _, attr = self.target.partition(":")
        obj = importlib.import_module(module)
        return getattr(obj, attr) if attr else obj


class Registry(Generic[T]):
    """A small registry: ``@reg.register("name")`` on a factory, ``reg.get("name")`` to fetch it."""

    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, T] = {}
        self._docs: dict[str, str] = {}

    def register(self, name: str, doc: str | None = None) -> Callable[[T], T]:
        def decorator(obj: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._items[name] = obj
            text = doc or (getattr(obj, "__doc__", None) or "").strip()
            self._docs[name] = text.splitlines()[0] if text else ""
            return obj

        return decorator

    def register_lazy(self, name: str, target: str, doc: str) -> None:
        """Register ``"package.module:attribute"``, imported on first ``get`` (keeps imports light)."""
        if name in self._items:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._items[name] = _Lazy(target)  # type: ignore[assignment]
        self._docs[name] = doc

    def get(self, name: str) -> T:
        key = str(name).lower()
        if key not in self._items:
            known = ", ".join(sorted(self._items)) or "(none)"
            raise UnknownNameError(f"unknown {self.kind} {name!r}; known {self.kind}s: {known}")
        item = self._items[key]
        if isinstance(item, _Lazy):
            item = self._items[key] = item.resolve()
        return item

    def names(self) -> list[str]:
        return sorted(self._items)

    def describe(self) -> list[tuple[str, str]]:
        return [(name, self._docs[name]) for name in self.names()]

    def __contains__(self, name: object) -> bool:
        return str(name).lower() in self._items
