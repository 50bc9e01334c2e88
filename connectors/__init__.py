"""Source-system readers, found by name: the built-ins and any plug-in registered under the
`kpi.connectors` entry point group (`[project.entry-points."kpi.connectors"] name = "module:Class"`)."""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from functools import cache
from importlib.metadata import entry_points

from pydantic import BaseModel

from connectors.base import Connector, ConnectorOptions, ExtractWindow, SourceError

ENTRY_POINT_GROUP = "kpi.connectors"
BUILT_IN = "built-in"

__all__ = [
    "Connector",
    "ConnectorOptions",
    "ExtractWindow",
    "SourceError",
    "available_connectors",
    "get_connector",
]


@dataclass(frozen=True)
class Registration:
    """Where a connector comes from, and why a plug-in could not be loaded."""

    name: str
    origin: str
    """`built-in`, or the plug-in's distribution and version and its entry point (`crm-connector 0.1.0, kpi_crm:CrmConnector`)."""
    connector: type[Connector] | None
    error: str | None = None
    """Why the plug-in could not be loaded (its import failed, or it is not a Connector); None when it was."""


def _builtin_connectors() -> dict[str, type[Connector]]:
    from connectors.files import FilesConnector
    from connectors.http import HttpConnector
    from connectors.sql import SqlConnector

    return {connector.name: connector for connector in (FilesConnector, SqlConnector, HttpConnector)}


@cache
def _scan() -> tuple[dict[str, Registration], list[Registration]]:
    found = {
        name: Registration(name, BUILT_IN, connector) for name, connector in _builtin_connectors().items()
    }
    refused: list[Registration] = []
    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        dist = entry_point.dist
        origin = (f"{dist.name} {dist.version}, " if dist is not None else "") + entry_point.value
        if entry_point.name in found:
            registered = found[entry_point.name].connector
            if (
                registered is not None
                and entry_point.value == f"{registered.__module__}:{registered.__qualname__}"
            ):
                continue  # the built-in itself (this project registers its own as an example)
            taken = found[entry_point.name].origin
            why = (
                "a built-in's name"
                if taken == BUILT_IN
                else f"the name of the plug-in from {taken}, loaded first"
            )
            refused.append(
                Registration(entry_point.name, origin, None, f"not loaded: {entry_point.name!r} is {why}")
            )
            continue
        try:
            loaded = entry_point.load()
        except Exception as error:  # noqa: BLE001 - a broken plug-in must not stop the others
            found[entry_point.name] = Registration(
                entry_point.name, origin, None, f"could not be imported ({type(error).__name__}: {error})"
            )
            continue
        problem = _declaration_problem(loaded)
        found[entry_point.name] = Registration(entry_point.name, origin, None if problem else loaded, problem)
    return found, refused


def registrations() -> dict[str, Registration]:
    """Every connector by name: the built-ins, then the plug-ins of the `kpi.connectors` entry point
    group, with why one could not be loaded (see `refused_registrations` for those not even tried)."""
    return _scan()[0]


def refused_registrations() -> list[Registration]:
    """Plug-ins registered under a name already taken (a built-in's, or an earlier plug-in's): not loaded."""
    return _scan()[1]


def _declaration_problem(loaded: object) -> str | None:
    """Why an entry point's object is not a usable connector class, or None."""
    if not (isinstance(loaded, type) and issubclass(loaded, Connector)):
        return "is not a connectors.base.Connector subclass"
    missing = [
        attribute
        for attribute in ("name", "description")
        if not isinstance(getattr(loaded, attribute, None), str)
    ]
    options = getattr(loaded, "Options", None)
    if not (isinstance(options, type) and issubclass(options, ConnectorOptions)):
        missing.append("Options (a connectors.base.ConnectorOptions model)")
    if missing:
        return f"does not set {', '.join(missing)}"
    return None


def available_connectors() -> dict[str, type[Connector]]:
    """Every connector that loaded, by name (see `registrations`)."""
    return {name: found.connector for name, found in registrations().items() if found.connector is not None}


def get_connector(name: str) -> type[Connector]:
    """The connector named `name`. Raises KeyError naming the ones there are, or why a plug-in of that
    name could not be loaded."""
    found = registrations().get(name)
    if found is not None and found.connector is None:
        raise KeyError(f"connector {name!r} ({found.origin}) {found.error}")
    connectors = available_connectors()
    if name not in connectors:
        raise KeyError(f"unknown connector {name!r}; expected one of: {', '.join(sorted(connectors))}")
    return connectors[name]


@dataclass(frozen=True)
class OptionLine:
    depth: int
    """0 for an option, 1 for a setting of a nested option (a pagination style's), ..."""
    name: str
    requirement: str
    """`required`, or `default <value>`."""
    description: str


def describe_options(model: type[BaseModel], depth: int = 0) -> list[OptionLine]:
    """A connector's options as lines for `kpi connectors list`: each field, then the settings of the
    option models it takes (each kind of a discriminated union under its `type`)."""
    lines = []
    for name, field in model.model_fields.items():
        if field.is_required():
            requirement = "required"
        else:
            default = field.default
            shown = getattr(default, "type", default) if isinstance(default, BaseModel) else default
            requirement = f"default {shown!r}"
        lines.append(OptionLine(depth, name, requirement, " ".join((field.description or "").split())))
        for nested in _models_in(field.annotation):
            kind = nested.model_fields.get("type")
            literal = typing.get_args(kind.annotation) if kind is not None else ()
            if literal:
                lines.append(
                    OptionLine(depth + 1, f"type: {literal[0]}", "", " ".join((nested.__doc__ or "").split()))
                )
                lines += [line for line in describe_options(nested, depth + 2) if line.name != "type"]
            else:
                lines += describe_options(nested, depth + 1)
    return lines


def _models_in(annotation: object) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    if typing.get_origin(annotation) is typing.Annotated:
        return _models_in(typing.get_args(annotation)[0])
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        return [model for argument in typing.get_args(annotation) for model in _models_in(argument)]
    return []
