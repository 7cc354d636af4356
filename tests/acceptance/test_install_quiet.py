"""Building the package prints no deprecation warning (setuptools wants `license` as an SPDX string)."""

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_building_the_package_prints_no_deprecation_warning(tmp_path: Path) -> None:
    # A copy: setuptools builds in the source folder, and the checkout should not gain a build/ folder.
    source = tmp_path / 'source'
    shutil.copytree(ROOT / 'backend', source / 'backend', ignore=shutil.ignore_patterns('__pycache__'))
    for name in ('pyproject.toml', 'README.md'):
        shutil.copy(ROOT / name, source / name)
    built = subprocess.run(
        [sys.executable, '-m', 'pip', 'wheel', '--no-deps', '-v', '-w', str(tmp_path / 'wheel'), str(source)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    output = built.stdout + built.stderr
    assert 'Deprecat' not in output and 'deprecat' not in output, output[-3000:]
