"""The package map of docs/ARCHITECTURE.md, enforced: each package under backend/app/task imports only the
packages it may, so a lower layer never reaches for an upper one.

Every import counts, the lazy ones inside functions too. A package is the first name under `backend.app.task`
(`beat`, `messaging`, `celery` for celery.py, ...); `core`, `database`, `embedded`, `cli` and `main` are the
packages beside `app` under `backend`. A package may always import its own modules.
"""

import ast
import importlib
import re
from pathlib import Path

TASK_ROOT = Path(__file__).resolve().parents[2] / 'backend' / 'app' / 'task'
ARCHITECTURE = Path(__file__).resolve().parents[2] / 'docs' / 'ARCHITECTURE.md'

#: Imported by every package: leaf modules that know no layer (settings, errors, constants, Celery/kombu internals,
#: small helpers).
FOUNDATION = frozenset({'core', 'constants', 'errors', 'internals', 'utils'})

#: What each package may import besides FOUNDATION and itself (the table in docs/ARCHITECTURE.md).
ALLOWED: dict[str, frozenset[str]] = {
    'constants': frozenset(),
    'errors': frozenset(),
    'internals': frozenset(),
    'utils': frozenset(),
    'model': frozenset(),
    'crud': frozenset({'model'}),
    'messaging': frozenset(),
    'scheduling': frozenset({'messaging'}),
    'results': frozenset({'crud', 'messaging'}),
    'schema': frozenset({'messaging'}),
    'reliability': frozenset({'crud', 'messaging', 'results'}),
    'worker': frozenset({'database', 'reliability', 'results'}),
    'hooks': frozenset({'reliability'}),
    'tasks': frozenset({'database', 'hooks', 'messaging', 'model', 'reliability', 'worker'}),
    'discovery': frozenset({'tasks'}),
    'celery': frozenset({'discovery', 'hooks', 'messaging', 'results', 'worker'}),
    'service': frozenset({'crud', 'database', 'messaging', 'model', 'scheduling', 'schema'}),
    'beat': frozenset({'celery', 'crud', 'database', 'discovery', 'messaging', 'scheduling', 'service', 'tasks'}),
    'api': frozenset({'celery', 'database', 'discovery', 'messaging', 'schema', 'service'}),
    'console': frozenset({'api', 'celery', 'database', 'scheduling', 'schema', 'service'}),
}

#: The imports that go up on purpose, each with its reason (also in docs/ARCHITECTURE.md).
EXCEPTIONS: dict[tuple[str, str], str] = {
    ('utils/schedulers.py', 'beat'): 'the documented `beat_scheduler` path re-exports `DatabaseScheduler`',
}


def package_of(dotted: str) -> str | None:
    parts = dotted.split('.')
    if parts[:3] == ['backend', 'app', 'task']:
        return parts[3] if len(parts) > 3 else None
    if parts[0] == 'backend' and len(parts) > 1 and parts[1] != 'app':
        return parts[1]
    return None


def imported_packages(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding='utf-8'))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            prefix = node.module
            # `from backend.app.task import errors` names the package in the imported name
            names = [f'{prefix}.{alias.name}' for alias in node.names] if prefix == 'backend.app.task' else [prefix]
        else:
            continue
        found.update(package for name in names if (package := package_of(name)) is not None)
    return found


def modules() -> list[tuple[str, str, Path]]:
    """(package, path relative to backend/app/task, file) for every module."""
    return [
        (path.relative_to(TASK_ROOT).parts[0].removesuffix('.py'), path.relative_to(TASK_ROOT).as_posix(), path)
        for path in sorted(TASK_ROOT.rglob('*.py'))
        if path != TASK_ROOT / '__init__.py'
    ]


def test_every_package_imports_only_what_the_map_allows() -> None:
    # Given every module under backend/app/task and the map
    wrong = []
    for package, relative, path in modules():
        assert package in ALLOWED, f'{relative}: package {package!r} is not in the map (add it here and to the doc)'
        # When its imports are read
        for target in sorted(imported_packages(path) - {package}):
            if target in FOUNDATION or target in ALLOWED[package] or (relative, target) in EXCEPTIONS:
                continue
            wrong.append(f'{relative} imports {target}')
    # Then none goes where its package may not
    assert wrong == []


def test_the_foundation_imports_no_other_layer() -> None:
    for package, relative, path in modules():
        if package in FOUNDATION - {'core'}:
            upward = imported_packages(path) - FOUNDATION - {package}
            upward = {target for target in upward if (relative, target) not in EXCEPTIONS}
            assert upward == set(), f'{relative} imports {sorted(upward)}'


def test_no_package_imports_the_entry_points_above_the_app() -> None:
    for _package, relative, path in modules():
        assert imported_packages(path) & {'cli', 'main', 'embedded'} == set(), relative


def test_the_exceptions_are_still_needed() -> None:
    for relative, target in EXCEPTIONS:
        assert target in imported_packages(TASK_ROOT / relative), f'{relative} no longer imports {target}'


def test_the_map_is_the_one_in_the_architecture_doc() -> None:
    # Given the doc's package table: "| `package` | ... | `a`, `b` |" rows
    rows = re.findall(r'^\| `(\w+)` \|.*\| ([^|]*) \|$', ARCHITECTURE.read_text(encoding='utf-8'), re.MULTILINE)
    documented = {name: frozenset(re.findall(r'`(\w+)`', may)) for name, may in rows}
    # Then it lists every package with the same imports as the test
    assert documented == ALLOWED


def test_every_dotted_path_named_in_a_string_resolves() -> None:
    # Given the `'backend.app.task.x.y:Name'` strings Celery and the tasks resolve late (result backend, consumer,
    # beat scheduler, task and request classes), which a move would break without an import error
    pattern = re.compile(r"'(backend\.app\.task(?:\.\w+)+):(\w+)'")
    named = [(match, path) for path in TASK_ROOT.rglob('*.py') for match in pattern.findall(path.read_text())]
    assert len(named) >= 5
    for (module, attribute), path in named:
        assert hasattr(importlib.import_module(module), attribute), f'{path}: {module}:{attribute}'
