"""``camscan.transport`` moves bytes and applies scope, nothing else: it never imports the probes
(which decide what to send and build it), not even for a type annotation."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import camscan.transport

TRANSPORT = Path(camscan.transport.__file__).resolve().parent
PROBES = "camscan.probes"


def imported_modules(path: Path, package: str) -> set[str]:
    """Every module a source file imports, anywhere in it (``from a import b`` counts as ``a``
    and ``a.b``; a relative import is resolved against ``package``, the file's own)."""
    imported: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            parts = package.split(".")
            base = parts[: len(parts) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            imported.add(module)
            imported.update(f"{module}.{alias.name}" for alias in node.names)
    return imported


def probes_imports(path: Path, package: str) -> set[str]:
    return {module for module in imported_modules(path, package) if module == PROBES or module.startswith(PROBES + ".")}


def package_of(path: Path) -> str:
    """The dotted package of a module file under ``src/camscan/transport``."""
    return ".".join(["camscan", *path.relative_to(TRANSPORT.parent).parts[:-1]])


def test_no_transport_module_imports_the_probes():
    modules = sorted(TRANSPORT.rglob("*.py"))
    assert len(modules) > 5
    found = {str(path.relative_to(TRANSPORT)): probes_imports(path, package_of(path)) for path in modules}
    assert {name: imports for name, imports in found.items() if imports} == {}


@pytest.mark.parametrize("source", [
    "import camscan.probes.flows",
    "from camscan.probes.discovery_probes import discovery_probes",
    "from camscan import probes",
    "from ..probes import flows",
    "if TYPE_CHECKING:\n    from camscan.probes.onvif import OnvifMessages",
])
def test_every_way_of_importing_the_probes_is_seen(source, tmp_path):
    module = tmp_path / "example.py"
    module.write_text(source + "\n")
    assert probes_imports(module, "camscan.transport")


def test_imports_of_the_protocols_and_of_transport_itself_are_allowed(tmp_path):
    module = tmp_path / "example.py"
    module.write_text("from camscan.protocols.spec import DiscoveryProbe\nfrom . import guard\nimport camscan.probe_names\n")
    assert probes_imports(module, "camscan.transport") == set()
