"""Finds the drop-in task modules: `tasks.py` in every package directly under `tasks/`.

They are imported only by the processes that need the task registry (workers,
the API, the CLI's task commands, beat's start-up child), never by beat
itself, so a task module's own imports cost beat nothing.
"""

import functools
import importlib
import importlib.util
import pkgutil

import backend.app.task.tasks as tasks_package


class TaskModuleError(Exception):
    """A drop-in task module could not be imported; the worker must not start without it.

    A plain exception: the processes that load task modules at start-up turn it
    into an exit with its sentence (the worker in `celery._prepare_worker`, `fba`
    in `cli/errors.run_cli`, beat's start-up child in `beat/startup.py`).
    """


def discover_task_modules() -> list[str]:
    """`tasks.tasks` (general tasks) plus `<feature>.tasks` for each feature package, sorted."""
    names = [f'{tasks_package.__name__}.tasks']
    for info in pkgutil.iter_modules(tasks_package.__path__):
        if not info.ispkg:
            continue
        candidate = f'{tasks_package.__name__}.{info.name}.tasks'
        if importlib.util.find_spec(candidate) is not None:
            names.append(candidate)
    return sorted(names)


@functools.cache
def load_task_modules() -> None:
    """Import every drop-in task module once per process; their tasks join every app at finalize."""
    import_task_modules(discover_task_modules())


def import_task_modules(names: list[str]) -> None:
    for name in names:
        try:
            importlib.import_module(name)
        except Exception as error:
            raise TaskModuleError(f'Task module {name} failed to import: {type(error).__name__}: {error}') from error
