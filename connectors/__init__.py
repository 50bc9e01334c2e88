"""Source-system readers, found by name: the built-ins and any plug-in registered under the
`kpi.connectors` entry point group (`[project.entry-points."kpi.connectors"] name = "module:Class"`)."""

from __future__ import annotations

from functools import cache
from importlib.metadata import entry_points

from connectors.base import Connector, ConnectorOptions, ExtractWindow, SourceError

ENTRY_POINT_GROUP = "kpi.connectors"

__all__ = [
    "Connector",
    "ConnectorOptions",
    "ExtractWindow",
    "SourceError",
    "available_connectors",
    "get_connector",
]


def _builtin_connectors() -> dict[str, type[Connector]]:
    from connectors.files import FilesConnector
    from connectors.http import HttpConnector
    from connectors.sql import SqlConnector

    return {connector.name: connector for connector in (FilesConnector, SqlConnector, HttpConnector)}


@cache
def available_connectors() -> dict[str, type[Connector]]:
    """Every connector by name: the built-ins, then plug-ins (a plug-in cannot replace a built-in)."""
    connectors = _builtin_connectors()
    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        if entry_point.name not in connectors:
            connectors[entry_point.name] = entry_point.load()
    return connectors


def get_connector(name: str) -> type[Connector]:
    connectors = available_connectors()
    if name not in connectors:
        raise KeyError(f"unknown connector {name!r}; expected one of: {', '.join(sorted(connectors))}")
    return connectors[name]
