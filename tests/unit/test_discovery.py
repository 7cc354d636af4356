import sys

import pytest

from backend.app.task.discovery import TaskModuleError, discover_task_modules, import_task_modules


def test_discover_task_modules_finds_general_and_every_feature_package() -> None:
    names = discover_task_modules()
    assert 'backend.app.task.tasks.tasks' in names
    assert 'backend.app.task.tasks.db_log.tasks' in names
    assert 'backend.app.task.tasks.email.tasks' in names
    assert 'backend.app.task.tasks.base' not in names


def test_import_task_modules_names_the_module_that_failed(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / 'broken_feature.py').write_text('import does_not_exist_anywhere\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(TaskModuleError) as raised:
        import_task_modules(['broken_feature'])
    assert str(raised.value) == (
        "Task module broken_feature failed to import: ModuleNotFoundError: No module named 'does_not_exist_anywhere'"
    )
    sys.modules.pop('broken_feature', None)


def test_a_broken_task_module_is_a_plain_error_that_start_up_turns_into_an_exit() -> None:
    # A plain exception, so `except Exception` handlers see it; the worker, `fba` and beat's start-up child exit
    assert issubclass(TaskModuleError, Exception)
    assert not issubclass(TaskModuleError, SystemExit)
