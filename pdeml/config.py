"""One configuration style for every method: validated dataclasses, ``section.key=value`` overrides, TOML.

A method's options are a dataclass that derives from :class:`Config`. Its defaults live in the
field declarations and nowhere else; :meth:`Config.from_dict` rejects unknown keys and lists the
known ones; nested sections are dataclasses too (``RunSpec.train`` is a ``TrainConfig``);
:meth:`Config.validate` checks values once, at construction. The command line reads the same
dictionaries from TOML (``--config FILE``) and from ``--set section.key=value`` (values parsed as
JSON where they parse, else kept as strings), merged in that order.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from pathlib import Path
from typing import Any, TypeVar

C = TypeVar("C", bound="Config")


class ConfigError(ValueError):
    """A configuration value or key that is not accepted; the message says what is expected."""


class Config:
    """Mixin for ``@dataclass`` configurations: ``from_dict``/``to_dict``/``replace`` and validation.

    Subclasses override :meth:`validate` (raise :class:`ConfigError`) and may set ``section`` (the
    name used in TOML files and ``--set``; defaults to the class name).
    """

    section: typing.ClassVar[str] = ""

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Check the values; raise :class:`ConfigError` naming the key, the value and what is expected."""

    @classmethod
    def keys(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def from_dict(cls: type[C], values: dict[str, Any] | None) -> C:
        """The configuration from a (possibly nested) dict; unknown keys raise :class:`ConfigError`."""
        if values is not None and not isinstance(values, dict):
            raise ConfigError(f"{cls._label()} options must be a table of key = value, got {values!r}")
        values = dict(values or {})
        known = cls.keys()
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ConfigError(f"unknown {cls._label()} option(s) {unknown}; known options: {', '.join(known)}")
        hints = typing.get_type_hints(cls)
        kwargs = {}
        for key, value in values.items():
            sub = _config_class(hints.get(key))
            if sub is not None and isinstance(value, dict):
                value = sub.from_dict(value)
            kwargs[key] = value
        try:
            return cls(**kwargs)
        except TypeError as err:  # a missing required field
            raise ConfigError(f"{cls._label()}: {err}") from err

    def to_dict(self) -> dict[str, Any]:
        return {f.name: (v.to_dict() if isinstance(v, Config) else v)
                for f in dataclasses.fields(self) for v in [getattr(self, f.name)]}

    def replace(self: C, **changes: Any) -> C:
        """A copy with ``changes`` applied, validated like :meth:`from_dict`."""
        return type(self).from_dict({**self.to_dict(), **changes})

    @classmethod
    def _label(cls) -> str:
        return cls.section or cls.__name__


def _config_class(hint: Any) -> type[Config] | None:
    """The :class:`Config` subclass named by a field's type hint (``X`` or ``X | None``)."""
    for candidate in (hint, *typing.get_args(hint)):
        if isinstance(candidate, type) and issubclass(candidate, Config):
            return candidate
    return None


# --------------------------------------------------------------------------- checks used by configs


def check_positive(name: str, value: Any, kind: type = float, allow_zero: bool = False) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and (value >= 0 if allow_zero else value > 0)
    if kind is int:
        ok = ok and float(value) == int(value)
    if not ok:
        what = "a non-negative" if allow_zero else "a positive"
        raise ConfigError(f"{name} must be {what} {'integer' if kind is int else 'number'}, got {value!r}")


def check_choice(name: str, value: Any, choices: typing.Sequence[Any]) -> None:
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")


# --------------------------------------------------------------------------- command-line sources


def parse_value(text: str) -> Any:
    """A ``--set`` value: JSON where it parses (numbers, booleans, lists, null), else the string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_sets(items: typing.Iterable[str]) -> dict[str, Any]:
    """``section.key=value`` items into nested dicts (``a.b.c=1`` -> ``{"a": {"b": {"c": 1}}}``)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        parts = key.strip().split(".")
        if not sep or len(parts) < 2 or not all(parts):
            raise ConfigError(f"--set expects section.key=value (e.g. train.lr=1e-3 or gp.components=20), got {item!r}")
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part.replace("-", "_"), {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set {item!r}: {part!r} is set both as a value and as a section")
        node[parts[-1].replace("-", "_")] = parse_value(value)
    return out


def merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """``extra`` over ``base``, section by section (neither is modified)."""
    merged = {k: (dict(v) if isinstance(v, dict) else v) for k, v in base.items()}
    for k, v in extra.items():
        merged[k] = merge(merged[k], v) if isinstance(v, dict) and isinstance(merged.get(k), dict) else v
    return merged


def read_toml(path: str | Path) -> dict[str, Any]:
    """A TOML configuration file as nested dicts; a missing or malformed file is a :class:`ConfigError`."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"configuration file {str(path)!r} does not exist")
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"configuration file {str(path)!r} is not valid TOML: {err}") from err


def sections(values: dict[str, Any], known: typing.Iterable[str], where: str) -> dict[str, Any]:
    """``values`` checked to hold only the sections ``known`` (e.g. a command's method names)."""
    known = list(known)
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(f"unknown section(s) {unknown} for {where}; known sections: {', '.join(known)}")
    return values


# --------------------------------------------------------------------------- keyword arguments of a constructor


def check_arguments(target: typing.Callable, values: dict[str, Any], what: str) -> None:
    """``values`` checked against the parameters of ``target`` (a class or function), so a misspelt
    option is a :class:`ConfigError` listing the known ones rather than a ``TypeError`` from inside."""
    import inspect

    signature = inspect.signature(target)
    try:
        signature.bind(**values)
    except TypeError as err:
        known = [n for n, p in signature.parameters.items() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
        raise ConfigError(f"{what}: {err}; known options: {', '.join(known)}") from None


__all__ = ["Config", "ConfigError", "check_arguments", "check_choice", "check_positive", "merge", "parse_sets",
           "parse_value", "read_toml", "sections"]
