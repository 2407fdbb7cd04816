"""The architecture stays as ARCHITECTURE.md describes it: layers, no import circles, imports at the top.

Parses every module of the packages (no imports run). A unit is a top-level package (``calibration``,
``pipelines``) or a direct child of ``mv3d`` (``mv3d.triangulate``, ``mv3d.camera``); each unit has a
layer, and a module may import only units of lower layers (and its own unit). Own-module imports
sit at the top of modules; inside a function only where they avoid loading a heavy library
(the imported module loads torch, cv2, opensim or dask when imported), and in the command-line
shells (``pipelines.cli``, ``pipelines.commands``), whose commands load their implementation when
they run so that ``mv3d --help`` stays fast.
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("mv3d", "calibration", "pipelines")
HEAVY = {"torch", "cv2", "opensim", "dask", "distributed"}
#: Modules whose functions import what they run (the command-line shells).
LAZY_SHELLS = ("pipelines.cli", "pipelines.commands")

#: Layers from the top (0) down; ARCHITECTURE.md explains them.
LAYERS = [
    {"pipelines"},
    {"calibration", "mv3d.pose2d", "mv3d.augment"},
    {"mv3d.triangulate", "mv3d.simulate"},
    {"mv3d.video", "mv3d.kinematics"},
    {"mv3d.config"},
    {"mv3d.io"},
    {"mv3d.camera", "mv3d.skeleton", "mv3d.subject", "mv3d.timeseries", "mv3d.parallel", "mv3d.plotting"},
    {"mv3d.geometry", "mv3d.errors", "mv3d.resources", "mv3d"},
]
LAYER = {unit: i for i, units in enumerate(LAYERS) for unit in units}


def _modules() -> dict[str, Path]:
    mods = {}
    for pkg in PACKAGES:
        for path in (ROOT / pkg).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            mods[name.removesuffix(".__init__")] = path
    return mods


MODULES = _modules()


def _resolve(name: str) -> str | None:
    """The project module an imported name lives in (``mv3d.io.read_trc`` -> ``mv3d.io``), or None."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def unit(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "mv3d" and len(parts) > 1 else parts[0]


def _imports(path: Path):
    """(imported names, line, inside a function, only for type checking) of each import statement."""
    tree = ast.parse(path.read_text(), str(path))
    found = []

    def visit(node: ast.AST, in_function: bool, typing_only: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            typing = typing_only or (isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test))
            if isinstance(child, ast.Import):
                found.append(([a.name for a in child.names], child.lineno, in_function, typing_only))
            elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                found.append(([child.module] + [f"{child.module}.{a.name}" for a in child.names], child.lineno,
                              in_function, typing_only))
            visit(child, inner, typing)

    visit(tree, False, False)
    return found


def _graph():
    """module -> {imported project module: [(line, inside a function)]} (type-checking imports included: they
    count for circles and layers), module -> the libraries and project modules it loads when imported."""
    edges: dict[str, dict[str, list[tuple[int, bool]]]] = {m: {} for m in MODULES}
    external: dict[str, set[str]] = {m: set() for m in MODULES}
    runtime: dict[str, set[str]] = {m: set() for m in MODULES}
    for mod, path in MODULES.items():
        for names, line, in_function, typing_only in _imports(path):
            for name in names:
                target = _resolve(name) if name.split(".")[0] in PACKAGES else None
                if target is None:
                    if not in_function and not typing_only and name.split(".")[0] not in PACKAGES:
                        external[mod].add(name.split(".")[0])
                elif target != mod:
                    edges[mod].setdefault(target, []).append((line, in_function))
                    if not in_function and not typing_only:
                        runtime[mod].add(target)
    return edges, external, runtime


EDGES, EXTERNAL, RUNTIME = _graph()


def _loads_heavy(module: str, seen: set[str] | None = None) -> bool:
    """Whether importing ``module`` loads a heavy library (through its top-level imports)."""
    seen = set() if seen is None else seen
    if module in seen:
        return False
    seen.add(module)
    if EXTERNAL[module] & HEAVY:
        return True
    parents = [".".join(module.split(".")[:i]) for i in range(1, module.count(".") + 1)]  # packages run first
    return any(_loads_heavy(m, seen) for m in parents + sorted(RUNTIME[module]))


def test_no_import_circles():
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def connect(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in EDGES[v]:
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in MODULES:
        if module not in index:
            connect(module)
    assert cycles == [], f"modules that import each other (directly or around a circle): {cycles}"


def test_every_unit_has_a_layer_and_imports_only_below_it():
    units = {unit(m) for m in MODULES}
    assert units <= set(LAYER), f"place these in LAYERS (and in ARCHITECTURE.md): {sorted(units - set(LAYER))}"
    upward = [f"{MODULES[m].relative_to(ROOT)}:{sites[0][0]} imports {t}, which is not in a lower layer"
              for m, targets in EDGES.items() for t, sites in targets.items()
              if unit(t) != unit(m) and LAYER[unit(t)] <= LAYER[unit(m)]]
    assert upward == []


def test_own_modules_are_imported_at_the_top():
    inside = [f"{MODULES[m].relative_to(ROOT)}:{line} imports {t} inside a function"
              for m, targets in EDGES.items() for t, sites in targets.items() for line, in_function in sites
              if in_function and not m.startswith(LAZY_SHELLS) and not _loads_heavy(t)]
    assert inside == [], "move these imports to the top of their modules (they load no heavy library)"
