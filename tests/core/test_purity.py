# -*- test-case-name: tests.core.test_purity -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Tests that L{ntpservice.core} stays pure: no I/O, no clock, no randomness,
and nothing from outside the core, directly or transitively.

Two checks, which catch different things:

 - L{ImportGraph} reads the sources (C{ast}): every import of every module
   under C{ntpservice/core} at any level (top, function, C{if
   TYPE_CHECKING}: a type is a dependency too), following the imports of
   C{ntpservice.*} modules transitively. Anything reached that is neither
   in the core (nor one of its parent packages), nor on the allow-lists, is
   reported with the chain of imports that reaches it.
 - L{runtimeImpurities} imports every core module in a fresh interpreter
   and lists what was loaded: it catches imports the source does not show
   (C{importlib}, C{__import__}).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

import ntpservice.core

FORBIDDEN_MODULES = frozenset(
    ["twisted", "socket", "time", "select", "asyncio", "random", "os", "datetime"]
)
"""
Top-level modules the core must not import: the reactor, the network, the
clock, randomness, the operating system and the wall-clock date.
"""

ALLOWED_STDLIB = frozenset(
    [
        "__future__",
        "bisect",
        "collections",
        "dataclasses",
        "enum",
        "hashlib",
        "hmac",
        "ipaddress",
        "math",
        "re",
        "struct",
        "types",
        "typing",
    ]
)
"""
The standard library modules (top-level names) the core may import: pure
computation. Anything else, from the standard library or not, needs to be
added here, on purpose.
"""

ALLOWED_THIRD_PARTY: frozenset[str] = frozenset()
"""
Third-party libraries the core may import: none. (MACs, which need
C{cryptography} for AES-CMAC, are computed in L{ntpservice.auth.mac}.)
"""

PENDING_EXEMPTIONS: frozenset[tuple[str, str]] = frozenset()
"""
Imports out of the core that are known and being removed, as C{(importer,
imported)}: not reported, and not followed.
"""

ROOT = Path(ntpservice.core.__file__).resolve().parent.parent.parent
"""The directory that holds the C{ntpservice} package."""

CORE = "ntpservice.core"


def _isWithin(name: str, package: str) -> bool:
    """Whether module C{name} is C{package} or below it."""
    return name == package or name.startswith(package + ".")


def _parents(name: str) -> list[str]:
    """The packages above module C{name}, outermost first."""
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def moduleNames(root: Path, package: str) -> list[str]:
    """
    Every module of a package, by name, sorted.

    @param root: the directory that holds the top-level package.
    @param package: the dotted name of the package.
    """
    directory = root.joinpath(*package.split("."))
    names = []
    for path in directory.rglob("*.py"):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names.append(".".join(parts))
    return sorted(names)


def importsOf(
    source: str, filename: str = "<source>", module: str = "", isPackage: bool = False
) -> list[tuple[str, int]]:
    """
    The modules some Python source imports, at any level, with absolute
    names (relative imports are resolved against C{module}).

    C{from X import y} gives C{X} and C{X.y}: the caller decides whether
    C{X.y} is a module.

    @param source: the text of a module.
    @param filename: its name, for syntax errors.
    @param module: its dotted name.
    @param isPackage: whether it is a package's C{__init__}.
    @return: C{(name, line)} in source order.
    """
    found: list[tuple[str, int]] = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            found.extend((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = module.split(".")
                if not isPackage:
                    parts.pop()
                base = parts[: len(parts) - (node.level - 1)]
                if node.module:
                    base.append(node.module)
                name = ".".join(base)
            else:
                name = node.module or ""
            found.append((name, node.lineno))
            found.extend((f"{name}.{alias.name}", node.lineno) for alias in node.names)
    found.sort(key=lambda item: item[1])
    return found


def forbiddenImports(source: str, filename: str = "<source>") -> list[str]:
    """
    Find the imports of L{FORBIDDEN_MODULES} in some Python source.

    @param source: the text of a module.
    @param filename: its name, for messages.
    @return: one C{"file:line: module"} entry per forbidden import.
    """
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        for name in names:
            if name.split(".")[0] in FORBIDDEN_MODULES:
                found.append(f"{filename}:{node.lineno}: {name}")
    return found


@dataclass(frozen=True, slots=True)
class _Edge:
    """How a module was first reached: from C{importer}, at C{where}."""

    importer: str | None
    where: str


class ImportGraph:
    """
    The modules a core package reaches through imports, read from the
    sources, and what among them breaks its purity.

    Modules of the top-level package (C{ntpservice.*}) are followed, the
    others judged by their top-level name and not followed: imported from
    the core, a module must be on an allow-list (L{ALLOWED_STDLIB},
    L{ALLOWED_THIRD_PARTY}); beyond a module outside the core (itself
    reported), the forbidden (L{FORBIDDEN_MODULES}) and third-party modules
    it drags in are reported too.

    @ivar usedExemptions: the exemptions that matched an import.
    """

    def __init__(
        self,
        root: Path,
        core: str = CORE,
        exemptions: Iterable[tuple[str, str]] = PENDING_EXEMPTIONS,
        allowed: Iterable[str] = ALLOWED_STDLIB | ALLOWED_THIRD_PARTY,
    ) -> None:
        """
        @param root: the directory holding the top-level package.
        @param core: the dotted name of the core package.
        @param exemptions: C{(importer, imported)} pairs not to report or
            follow; an importer names a module or a package (then its
            modules too).
        @param allowed: the top-level names of allowed outside modules.
        """
        self.root = root
        self.core = core
        self.top = core.split(".")[0]
        self.exemptions = frozenset(exemptions)
        self.allowed = frozenset(allowed)
        self.usedExemptions: set[tuple[str, str]] = set()

    def _path(self, name: str) -> Path | None:
        """The file of a module of the top-level package, if it exists."""
        base = self.root.joinpath(*name.split("."))
        for path in (base / "__init__.py", base.with_suffix(".py")):
            if path.is_file():
                return path
        return None

    def _isPure(self, name: str) -> bool:
        """Whether a module of the top-level package may be reached."""
        return _isWithin(name, self.core) or name in _parents(self.core)

    def _exempt(self, importer: str, name: str) -> bool:
        for pair in self.exemptions:
            if _isWithin(importer, pair[0]) and _isWithin(name, pair[1]):
                self.usedExemptions.add(pair)
                return True
        return False

    def _imports(self, name: str, path: Path) -> list[tuple[str, int]]:
        """
        What module C{name} imports: modules of the top-level package
        (with the packages above them, which importing runs) by full name,
        others by top-level name.
        """
        found: list[tuple[str, int]] = []
        isPackage = path.name == "__init__.py"
        for imported, line in importsOf(path.read_text("utf-8"), str(path), name, isPackage):
            if imported.split(".")[0] != self.top:
                found.append((imported.split(".")[0], line))
                continue
            if self._path(imported) is None:
                # X.y of "from X import y" where y is not a module; or a
                # module that does not exist (reported as such).
                if self._path(imported.rpartition(".")[0]) is not None:
                    continue
            for parent in _parents(imported) + [imported]:
                found.append((parent, line))
        return found

    def violations(self) -> list[str]:
        """
        Everything the core reaches that breaks its purity.

        @return: one C{"file:line: module (why): chain"} line per module
            reached, where the file and line are those of the import that
            first reached it, and the chain goes from a core module to it.
        """
        reached: dict[str, _Edge] = {}
        queue: deque[str] = deque()
        for name in moduleNames(self.root, self.core):
            reached[name] = _Edge(None, "")
            queue.append(name)
        problems: list[tuple[str, str]] = []
        while queue:
            importer = queue.popleft()
            path = self._path(importer)
            assert path is not None
            where = str(path.relative_to(self.root))
            for name, line in self._imports(importer, path):
                if self._exempt(importer, name) or name in reached:
                    continue
                reached[name] = _Edge(importer, f"{where}:{line}")
                if name.split(".")[0] == self.top:
                    if self._path(name) is None:
                        problems.append((name, "not found"))
                        continue
                    queue.append(name)
                    if not self._isPure(name):
                        problems.append((name, f"outside {self.core}"))
                elif name in FORBIDDEN_MODULES:
                    problems.append((name, "forbidden"))
                elif name in self.allowed:
                    continue
                elif self._isPure(importer):
                    problems.append((name, "not on the allow-list"))
                elif name not in sys.stdlib_module_names:
                    # Beyond a module outside the core (reported), what it
                    # drags in: the forbidden and third-party modules.
                    problems.append((name, "third-party"))
        return [
            f"{reached[name].where}: {name} ({why}): {' -> '.join(self._chain(reached, name))}"
            for name, why in problems
        ]

    @staticmethod
    def _chain(reached: dict[str, _Edge], name: str) -> list[str]:
        chain = [name]
        importer = reached[name].importer
        while importer is not None:
            chain.append(importer)
            importer = reached[importer].importer
        return chain[::-1]


_RUNTIME_PROBE = """
import importlib, json, sys
before = set(sys.modules)
for name in sys.argv[1:]:
    importlib.import_module(name)
print(json.dumps(sorted(set(sys.modules) - before)))
"""


def runtimeImpurities(
    root: Path, core: str = CORE, allowedThirdParty: Iterable[str] = ALLOWED_THIRD_PARTY
) -> list[str]:
    """
    Import every module of the core in a fresh interpreter and list the
    modules that loaded and should not have: modules of the top-level
    package outside the core (and its parent packages), and (by top-level
    name) modules that are not in the standard library and not allowed. (Which standard
    library modules load cannot be judged at run time: the allowed ones
    load C{os} themselves.)

    @param root: the directory holding the top-level package, the working
        directory of the interpreter.
    """
    top = core.split(".")[0]
    result = subprocess.run(
        [sys.executable, "-c", _RUNTIME_PROBE, *moduleNames(root, core)],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if result.returncode:
        raise RuntimeError(f"importing the core failed:\n{result.stderr}")
    allowed = frozenset(allowedThirdParty)
    found = []
    for name in json.loads(result.stdout):
        first = name.split(".")[0]
        if first == top:
            if not (_isWithin(name, core) or name in _parents(core)):
                found.append(f"{name} (outside {core})")
        elif first not in sys.stdlib_module_names and first not in allowed:
            problem = f"{first} (not in the standard library)"
            if problem not in found:
                found.append(problem)
    return found


class PurityTests(SynchronousTestCase):
    """
    Tests for the purity of the core package.
    """

    def test_coreImportsNothingForbidden(self) -> None:
        """
        No module under C{ntpservice/core} imports a forbidden module, at
        any level (top, function, or C{if TYPE_CHECKING} block).
        """
        files = sorted(ROOT.joinpath("ntpservice", "core").rglob("*.py"))
        self.assertIn(ROOT / "ntpservice" / "core" / "packet.py", files)
        found = []
        for path in files:
            found.extend(forbiddenImports(path.read_text("utf-8"), str(path)))
        self.assertEqual(found, [])

    def test_coreReachesNothingOutside(self) -> None:
        """
        Following imports transitively from every core module reaches only
        core modules, their parent package and allowed standard library
        modules.
        """
        graph = ImportGraph(ROOT)
        self.assertEqual(graph.violations(), [])

    def test_coreLoadsNothingOutside(self) -> None:
        """
        Importing every core module in a fresh interpreter loads nothing
        of C{ntpservice} outside the core, and no third-party module.
        """
        self.assertEqual(runtimeImpurities(ROOT), [])

    def test_exemptionsStillNeeded(self) -> None:
        """
        Every exemption in L{PENDING_EXEMPTIONS} still matches an import:
        one that no longer does must be deleted.
        """
        graph = ImportGraph(ROOT)
        graph.violations()
        self.assertEqual(graph.usedExemptions, set(PENDING_EXEMPTIONS))

    def test_allowListsAllowNothingForbidden(self) -> None:
        """
        No forbidden module is on an allow-list.
        """
        self.assertEqual(FORBIDDEN_MODULES & (ALLOWED_STDLIB | ALLOWED_THIRD_PARTY), set())
        self.assertTrue(ALLOWED_STDLIB <= sys.stdlib_module_names)

    def test_checkerFindsImports(self) -> None:
        """
        The checker sees every form of import of a forbidden module and
        ignores modules that merely share a prefix, and relative imports.
        """
        source = (
            "import os\n"
            "import os.path as p\n"
            "from time import monotonic\n"
            "from twisted.internet import reactor\n"
            "import json, random\n"
            "def f():\n"
            "    import socket\n"
            "import timeit\n"
            "import selectors\n"
            "from .time import x\n"
            "from . import random\n"
        )
        self.assertEqual(
            forbiddenImports(source),
            [
                "<source>:1: os",
                "<source>:2: os.path",
                "<source>:3: time",
                "<source>:4: twisted.internet",
                "<source>:5: random",
                "<source>:7: socket",
            ],
        )

    def test_importsOfResolvesRelativeImports(self) -> None:
        """
        L{importsOf} gives absolute names: relative imports resolved
        against the module (or package), C{from X import y} as C{X} and
        C{X.y}, in source order.
        """
        source = (
            "from . import b\n"
            "from .. import config\n"
            "from ..net.udp import Port\n"
            "import pkg.core.c as c\n"
        )
        self.assertEqual(
            importsOf(source, module="pkg.core.a"),
            [
                ("pkg.core", 1),
                ("pkg.core.b", 1),
                ("pkg", 2),
                ("pkg.config", 2),
                ("pkg.net.udp", 3),
                ("pkg.net.udp.Port", 3),
                ("pkg.core.c", 4),
            ],
        )
        self.assertEqual(
            importsOf("from . import b\n", module="pkg.core", isPackage=True),
            [("pkg.core", 1), ("pkg.core.b", 1)],
        )


class PlantedImportTests(SynchronousTestCase):
    """
    The checks fail on a planted import: a package that mimics
    C{ntpservice}, whose core reaches its configuration module through
    another core module.
    """

    def setUp(self) -> None:
        self.root = Path(self.mktemp())
        files = {
            "planted/__init__.py": "",
            "planted/core/__init__.py": "",
            # a imports b, an allowed module and one that is not allowed.
            "planted/core/a.py": "from planted.core import b\nimport math\nimport json\n",
            # b imports the configuration for a type only.
            "planted/core/b.py": (
                "from typing import TYPE_CHECKING\n"
                "\n"
                "if TYPE_CHECKING:\n"
                "    from planted.config import Settings\n"
            ),
            # c imports it for real, relatively.
            "planted/core/c.py": "from ..config import Settings\n",
            # The configuration reads files and uses a third-party module.
            "planted/config.py": "import os\nimport json\nimport thirdparty\nSettings = 1\n",
            "thirdparty.py": "",
        }
        for name, text in files.items():
            path = self.root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)

    def test_static(self) -> None:
        """
        L{ImportGraph} reports a standard library module that is not on
        the allow-list, the configuration module (reached from the first
        core module that imports it, if only for a type) and, beyond it,
        the forbidden and third-party modules it imports, each with the
        chain of imports from the core.
        """
        graph = ImportGraph(self.root, "planted.core", exemptions=())
        self.assertEqual(
            graph.violations(),
            [
                "planted/core/a.py:3: json (not on the allow-list): "
                "planted.core.a -> json",
                "planted/core/b.py:4: planted.config (outside planted.core): "
                "planted.core.b -> planted.config",
                "planted/config.py:1: os (forbidden): "
                "planted.core.b -> planted.config -> os",
                "planted/config.py:3: thirdparty (third-party): "
                "planted.core.b -> planted.config -> thirdparty",
            ],
        )

    def test_exemption(self) -> None:
        """
        An exempt import is neither reported nor followed, and is
        recorded as used; another import of the same module still is
        reported.
        """
        graph = ImportGraph(
            self.root,
            "planted.core",
            exemptions=[("planted.core.b", "planted.config")],
        )
        violations = graph.violations()
        self.assertEqual(graph.usedExemptions, {("planted.core.b", "planted.config")})
        self.assertIn(
            "planted/core/c.py:1: planted.config (outside planted.core): "
            "planted.core.c -> planted.config",
            violations,
        )

    def test_runtime(self) -> None:
        """
        L{runtimeImpurities} sees the configuration module and the
        third-party module that importing the core loads (not the
        type-only import, which does not run).
        """
        self.assertEqual(
            runtimeImpurities(self.root, "planted.core"),
            [
                "planted.config (outside planted.core)",
                "thirdparty (not in the standard library)",
            ],
        )
