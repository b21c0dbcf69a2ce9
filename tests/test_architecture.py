"""The layers' arrows, checked from the source: the domain (app/) imports no outer layer, and no import
circle runs through it, neither between modules nor between domain packages.

Read with `ast`, every import counts, including those inside functions (a function-local import
hides a circle from Python at start-up, not from this check). Pure: no database, no app.
"""

from __future__ import annotations

import ast
import textwrap
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOMAIN = "app"
INFRA = "app.infra"
# The layers above the domain, and the GraphQL libraries only they may use.
OUTER = ("graphql_schema", "resolvers", "server", "strawberry", "graphql")


@dataclass(frozen=True, slots=True)
class Import:
    module: str  # the importing module, e.g. "app.orders.service"
    target: str  # what it names, e.g. "app.billing.hooks"
    where: str  # "app/orders/service.py:16"


def module_name(root: Path, file: Path) -> str:
    parts = list(file.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def read_imports(root: Path, package: str = DOMAIN) -> tuple[set[str], list[Import]]:
    """Every module under `root/package`, and every import statement in them (at any depth)."""
    modules: set[str] = set()
    found: list[Import] = []
    for file in sorted((root / package).rglob("*.py")):
        module = module_name(root, file)
        modules.add(module)
        is_package = file.name == "__init__.py"
        for node in ast.walk(ast.parse(file.read_text(), filename=str(file))):
            where = f"{file.relative_to(root)}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.Import):
                found += [Import(module, alias.name, where) for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _absolute(module, is_package, node.module, node.level)
                # `from a import b` names the module a.b when there is one, else a name inside a.
                found += [Import(module, f"{base}.{alias.name}", where) for alias in node.names if alias.name != "*"]
                found.append(Import(module, base, where))
    return modules, found


def _absolute(module: str, is_package: bool, name: str | None, level: int) -> str:
    if level == 0:
        return name or ""
    anchor = module.split(".")
    anchor = anchor if is_package else anchor[:-1]
    anchor = anchor[: len(anchor) - (level - 1)]
    return ".".join([*anchor, name] if name else anchor)


def outer_layer_imports(imports: Iterable[Import]) -> list[Import]:
    return [i for i in imports if i.target.split(".")[0] in OUTER]


def module_graph(modules: set[str], imports: Iterable[Import]) -> dict[str, set[str]]:
    """Module -> the app modules its imports load: the named module and the packages above it
    (importing app.orders.service runs app/orders/__init__.py first)."""
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for i in imports:
        parts = i.target.split(".")
        for n in range(1, len(parts) + 1):
            target = ".".join(parts[:n])
            if target in modules and target != i.module:
                graph[i.module].add(target)
    return graph


def unit_of(module: str) -> str:
    """The domain package (app.orders, app.infra, ...) or top-level module (app.errors) a module is part of."""
    return ".".join(module.split(".")[:2])


def unit_graph(graph: Mapping[str, set[str]]) -> dict[str, set[str]]:
    units: dict[str, set[str]] = {}
    for source, targets in graph.items():
        if source == DOMAIN:
            continue
        edges = units.setdefault(unit_of(source), set())
        edges |= {unit_of(t) for t in targets if t != DOMAIN and unit_of(t) != unit_of(source)}
    return units


def knots(graph: Mapping[str, set[str]]) -> list[set[str]]:
    """The groups of nodes tied together by circles (strongly connected, Tarjan), two nodes or more each."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.add(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(group)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """One circle per knot, as a path that returns to where it started."""
    return [_circle(graph, group) for group in knots(graph)]


def _circle(graph: Mapping[str, set[str]], group: set[str]) -> list[str]:
    start = min(group)
    paths = {start: [start]}
    frontier = [start]
    while frontier:  # breadth first inside the group: the shortest way back to `start`
        node = frontier.pop(0)
        for nxt in sorted(graph[node] & group):
            if nxt == start:
                return [*paths[node], start]
            if nxt not in paths:
                paths[nxt] = [*paths[node], nxt]
                frontier.append(nxt)
    raise AssertionError("a strongly connected group always has a circle")


def infra_reaching_into_the_domain(graph: Mapping[str, set[str]]) -> list[tuple[str, str]]:
    return sorted(
        (source, target) for source, targets in graph.items() if unit_of(source) == INFRA
        for target in targets if target != DOMAIN and unit_of(target) != INFRA
    )


def check(root: Path) -> list[str]:
    """Everything wrong with the domain under `root`, as readable lines (empty when the arrows are right)."""
    modules, imports = read_imports(root)
    graph = module_graph(modules, imports)
    problems = [f"{i.where}: {i.module} imports {i.target} (an outer layer)" for i in outer_layer_imports(imports)]
    for kind, g in (("module", graph), ("package", unit_graph(graph))):
        for group in knots(g):
            tied = f" (tied together: {', '.join(sorted(group))})" if len(group) > 2 else ""
            problems.append(f"{kind} circle: {' -> '.join(_circle(g, group))}{tied}")
    problems += [f"{source} (infrastructure) imports {target} (domain)" for source, target in infra_reaching_into_the_domain(graph)]
    return problems


# --- the rules, on this repository ------------------------------------------------------------------


def test_the_domain_imports_no_outer_layer() -> None:
    _, imports = read_imports(ROOT)
    assert [f"{i.where}: {i.target}" for i in outer_layer_imports(imports)] == []


def test_no_import_circle_between_app_modules() -> None:
    modules, imports = read_imports(ROOT)
    assert cycles(module_graph(modules, imports)) == []


def test_no_import_circle_between_domain_packages() -> None:
    modules, imports = read_imports(ROOT)
    assert cycles(unit_graph(module_graph(modules, imports))) == []


def test_infrastructure_imports_no_domain_package() -> None:
    modules, imports = read_imports(ROOT)
    assert infra_reaching_into_the_domain(module_graph(modules, imports)) == []


def test_models_take_only_the_domain_vocabularies_from_the_domain() -> None:
    # The persistence layer stores the domain's enums; the enum modules import nothing of the project,
    # so models -> app.<domain>.enums adds no path back into any domain's services.
    _, model_imports = read_imports(ROOT, "models")
    from_domain = {i.target for i in model_imports if i.target.split(".")[0] == DOMAIN}
    assert {t for t in from_domain if t.split(".")[2:3] != ["enums"]} == set()
    _, domain_imports = read_imports(ROOT)
    assert [i for i in domain_imports if i.module.endswith(".enums") and i.target.split(".")[0] in (DOMAIN, "models")] == []


# --- the checker itself: it must see what it is meant to see ------------------------------------------


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, body in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(body))
    return root


def test_the_check_finds_a_circle_hidden_in_a_function_and_an_outer_import(tmp_path: Path) -> None:
    # given: orders -> billing at module level, billing -> orders inside a function, and a strawberry import
    root = _tree(tmp_path, {
        "app/__init__.py": "",
        "app/orders/__init__.py": "",
        "app/orders/service.py": "from app.billing import hooks\n",
        "app/billing/__init__.py": "",
        "app/billing/hooks.py": """
            def on_paid():
                from app.orders import service  # hidden from start-up, not from the check
                import strawberry
        """,
        "app/infra/__init__.py": "",
        "app/infra/database.py": "from ..orders.service import x\n",
    })

    # when
    problems = check(root)

    # then
    assert problems == [
        "app/billing/hooks.py:4: app.billing.hooks imports strawberry (an outer layer)",
        "module circle: app.billing.hooks -> app.orders.service -> app.billing.hooks",
        "package circle: app.billing -> app.orders -> app.billing",
        "app.infra.database (infrastructure) imports app.orders (domain)",
        "app.infra.database (infrastructure) imports app.orders.service (domain)",
    ]


def test_the_check_passes_a_tree_whose_arrows_point_one_way(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "app/__init__.py": "",
        "app/orders/__init__.py": "",
        "app/orders/service.py": "from app.infra import database\n",
        "app/flows/__init__.py": "",
        "app/flows/placement.py": "from app.orders import service\nfrom app.billing import payments\n",
        "app/billing/__init__.py": "",
        "app/billing/payments.py": "from app.orders.service import get_for_update\n",
        "app/infra/__init__.py": "",
        "app/infra/database.py": "import sqlalchemy\n",
    })
    assert check(root) == []


# The callers of flows: the outer layers, and the demo data loader (which drives use cases like a client would).
FLOW_CALLERS_IN_APP = {"app.demo"}


def test_no_domain_service_calls_a_flow() -> None:
    # Flows sit above the single-aggregate services: a service that called a flow would make the
    # layering a matter of luck (today no circle, tomorrow one).
    _, imports = read_imports(ROOT)
    upward = [
        f"{i.where}: {i.target}" for i in imports
        if (i.target == "app.flows" or i.target.startswith("app.flows."))
        and not i.module.startswith("app.flows") and i.module not in FLOW_CALLERS_IN_APP
    ]
    assert upward == []
