"""Building the package prints no deprecation warning (setuptools wants `license` as an SPDX string)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_building_the_package_prints_no_deprecation_warning(tmp_path: Path) -> None:
    built = subprocess.run(
        [sys.executable, '-m', 'pip', 'wheel', '--no-deps', '-v', '-w', str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    output = built.stdout + built.stderr
    assert 'Deprecat' not in output and 'deprecat' not in output, output[-3000:]
