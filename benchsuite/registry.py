"""One registry for every kind of component: objectives, regularisers, architectures, datasets, metrics, probes.

A component registers itself with ``@register(kind, name)``; the suite finds the built-in ones by
importing their subpackages, and a user's own file through ``plugins:`` in a config (a path) or the
``benchsuite.plugins`` entry-point group (an installed package). Adding a method never means editing
a shared file.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import re
import sys
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Callable, Iterable

from benchsuite.errors import ConfigError

KINDS = ("objective", "regulariser", "architecture", "dataset", "metric", "probe")

# Names become path segments and Snakemake wildcards; "+" joins regularisers ("sn+r1").
_NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]*$")

_BUILTIN_PACKAGES = {
    "objective": "benchsuite.objectives",
    "regulariser": "benchsuite.regularisers",
    "architecture": "benchsuite.architectures",
    "dataset": "benchsuite.datasets",
    "metric": "benchsuite.metrics",
    "probe": "benchsuite.probes",
}


@dataclass(frozen=True)
class Entry:
    kind: str
    name: str
    target: Any
    description: str
    source: str


_entries: dict[str, dict[str, Entry]] = {kind: {} for kind in KINDS}
_loaded_plugin_files: set[Path] = set()
_builtins_loaded = False
_entry_points_loaded = False


class UnknownNameError(ConfigError):
    """An unknown component name; the message lists what exists and the closest match."""


def _first_docstring_line(target: Any) -> str:
    doc = getattr(target, "__doc__", None) or ""
    for line in doc.strip().splitlines():
        if line.strip():
            return line.strip()
    return ""


def check_name(name: str) -> None:
    """Raise ValueError unless ``name`` is safe as a path segment and a Snakemake wildcard value."""
    if not isinstance(name, str) or not _NAME_PATTERN.match(name):
        raise ValueError(
            f"invalid component name {name!r}: use lowercase letters, digits, '-' and '_' only "
            "(no whitespace, no '/', no '+', which joins regularisers)"
        )


def register(kind: str, name: str, description: str | None = None) -> Callable[[Any], Any]:
    """Class or function decorator putting ``target`` in the registry of ``kind`` under ``name``."""
    if kind not in KINDS:
        raise ValueError(f"unknown component kind {kind!r}; kinds are {', '.join(KINDS)}")
    check_name(name)

    def decorator(target: Any) -> Any:
        existing = _entries[kind].get(name)
        source = getattr(target, "__module__", "?")
        if existing is not None:
            same = existing.source == source and getattr(existing.target, "__qualname__", None) == getattr(
                target, "__qualname__", None
            )
            if not same:
                raise ValueError(
                    f"duplicate {kind} name {name!r}: already registered by {existing.source}"
                )
        if isinstance(target, type):
            target.name = name
        _entries[kind][name] = Entry(
            kind=kind,
            name=name,
            target=target,
            description=description or _first_docstring_line(target),
            source=source,
        )
        return target

    return decorator


def load_builtins() -> None:
    """Import every built-in component module so that it registers itself."""
    global _builtins_loaded
    if _builtins_loaded:
        return
    import pkgutil

    for package_name in _BUILTIN_PACKAGES.values():
        package = importlib.import_module(package_name)
        for module in pkgutil.iter_modules(package.__path__):
            if not module.name.startswith("_"):
                importlib.import_module(f"{package_name}.{module.name}")
    _builtins_loaded = True
    _load_entry_points()


def _load_entry_points() -> None:
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    for entry_point in entry_points(group="benchsuite.plugins"):
        entry_point.load()


def load_plugins(paths: Iterable[str | Path], base: Path | None = None) -> None:
    """Import users' component files (each registers itself). Loading the same file twice is a no-op."""
    load_builtins()
    for raw in paths:
        if "\x00" in str(raw):
            raise ConfigError(f"plugin file {str(raw)!r} is not a path (it holds a NUL character)")
        path = Path(raw).expanduser()
        if not path.is_absolute() and base is not None:
            path = base / path
        path = path.resolve()
        if path in _loaded_plugin_files:
            continue
        if not path.is_file():
            raise ConfigError(f"plugin file {str(raw)!r} not found (looked at {path})")
        if path.suffix != ".py":
            raise ConfigError(f"plugin file {str(raw)!r} is not a Python file; name a .py file that registers components")
        module_name = "benchsuite_plugin_" + re.sub(r"\W", "_", path.stem) + f"_{abs(hash(path)) % 10**8}"
        spec = importlib.util.spec_from_file_location(module_name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as error:
            del sys.modules[module_name]
            raise ConfigError(f"plugin file {path} failed to import: {type(error).__name__}: {error}") from error
        _loaded_plugin_files.add(path)


def names(kind: str) -> list[str]:
    load_builtins()
    return sorted(_entries[kind])


def entries(kind: str) -> list[Entry]:
    load_builtins()
    return [_entries[kind][name] for name in sorted(_entries[kind])]


def lookup(kind: str, name: str) -> Any:
    """The registered component, or one error listing the registered names and the closest match."""
    load_builtins()
    try:
        return _entries[kind][name]
    except KeyError:
        pass
    known = sorted(_entries[kind])
    close = difflib.get_close_matches(str(name), known, n=1, cutoff=0.5)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise UnknownNameError(f"unknown {kind} {name!r}.{hint} Registered {kind}s: {', '.join(known)}")


def get(kind: str, name: str) -> Any:
    return lookup(kind, name).target
