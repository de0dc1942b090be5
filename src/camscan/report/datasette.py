"""The Datasette metadata shipped with camscan: table and column descriptions and canned queries."""

from __future__ import annotations

import copy
import json
from functools import cache
from importlib import resources
from pathlib import Path

TEMPLATE_DATABASE = "camscan"


@cache
def _template() -> dict:
    return json.loads(resources.files("camscan.report").joinpath("datasette_metadata.json").read_text("utf-8"))


def database_name(db_path: str | Path) -> str:
    """The name Datasette gives a database file: its file name without the extension."""
    return Path(db_path).stem


def datasette_metadata(database: str = TEMPLATE_DATABASE) -> dict:
    """The metadata, keyed to a Datasette database name (a file's stem, e.g. ``school-a``)."""
    metadata = copy.deepcopy(_template())
    metadata["databases"] = {database: metadata["databases"][TEMPLATE_DATABASE]}
    return metadata
