import subprocess
from pathlib import Path

import pytest

from backend.app.task.crud.sql import parse_queries, queries

ROOT = Path(__file__).resolve().parents[3]


def test_parse_queries_splits_named_blocks_and_drops_comments() -> None:
    text = '-- name: one\n-- what it does\nSELECT 1\n\n-- name: two\n-- more\nSELECT 2\nFROM t\n'
    assert parse_queries(text) == {'one': 'SELECT 1', 'two': 'SELECT 2\nFROM t'}


def test_parse_queries_refuses_a_duplicate_name() -> None:
    with pytest.raises(ValueError, match="'one' is defined twice"):
        parse_queries('-- name: one\nSELECT 1\n-- name: one\nSELECT 2\n')


def test_every_named_query_is_used_by_crud() -> None:
    crud_sources = '\n'.join(p.read_text() for p in (ROOT / 'backend').rglob('*.py'))
    unused = [name for name in queries() if f"query('{name}')" not in crud_sources]
    assert unused == []


def test_named_queries_are_only_run_from_crud() -> None:
    found = subprocess.run(['grep', '-rl', 'crud.sql import', 'backend'], cwd=ROOT, capture_output=True, text=True)
    assert all(path.startswith('backend/app/task/crud/') for path in found.stdout.split())
