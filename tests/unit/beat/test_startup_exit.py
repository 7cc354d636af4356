"""Beat's start-up child stops with the one sentence of a drop-in module that fails to import (beat repeats it)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_a_broken_drop_in_module_ends_the_child_with_its_sentence(tmp_path: Path) -> None:
    # Given a copy of the tree with a feature whose tasks.py raises at import
    shutil.copytree(ROOT / 'backend', tmp_path / 'backend', ignore=shutil.ignore_patterns('__pycache__'))
    feature = tmp_path / 'backend' / 'app' / 'task' / 'tasks' / 'broken'
    feature.mkdir()
    (feature / '__init__.py').write_text('')
    (feature / 'tasks.py').write_text('raise RuntimeError("missing API key")\n')
    # When the child runs from that copy (it fails before it reaches PostgreSQL)
    done = subprocess.run(
        [sys.executable, '-m', 'backend.app.task.beat.startup'],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={**os.environ, 'PYTHONPATH': str(tmp_path), 'FBA_ENV_FILE': ''},
    )
    # Then it exits 1 with the sentence as its last line, and no traceback
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        'Task module backend.app.task.tasks.broken.tasks failed to import: RuntimeError: missing API key'
    )
    assert 'Traceback' not in done.stderr
