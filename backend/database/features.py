"""The database side of feature folders: `tasks/<feature>/model.py` and `tasks/<feature>/migrations/`.

A feature owns its tables: its models sit beside its tasks and its migrations form an Alembic branch of their own
in its folder. Migrations find both here at run time, so adding a feature folder needs no edit anywhere else and
deleting one takes its tables out of every fresh database.
"""

import importlib
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import MetaData

import backend.app.task.tasks as tasks_package
from backend.app.task.errors import TaskError
from backend.app.task.model import Base


class FeatureModelError(TaskError):
    """A feature's model module could not be imported, so its tables cannot be compared or migrated."""


@dataclass(frozen=True)
class Feature:
    name: str
    folder: Path

    @property
    def migrations(self) -> Path:
        """The feature's Alembic version location."""
        return self.folder / 'migrations'

    @property
    def model_module(self) -> str:
        return f'{tasks_package.__name__}.{self.name}.model'

    @property
    def has_model(self) -> bool:
        return (self.folder / 'model.py').is_file()


def features() -> list[Feature]:
    """Every package directly under `tasks/`, sorted by name (the same folders task discovery reads)."""
    root = Path(tasks_package.__file__).parent
    folders = (path for path in root.iterdir() if (path / '__init__.py').is_file())
    return sorted((Feature(folder.name, folder) for folder in folders), key=lambda feature: feature.name)


def find(name: str) -> Feature:
    """The feature folder called `name`, or one sentence naming the folders that exist."""
    found = {feature.name: feature for feature in features()}
    if name not in found:
        known = ', '.join(found) or 'none'
        raise FeatureModelError(f'No feature folder backend/app/task/tasks/{name}/ (features: {known}).')
    return found[name]


def version_locations() -> list[Path]:
    """The migrations folder of every feature that has one."""
    return [feature.migrations for feature in features() if feature.migrations.is_dir()]


def import_models() -> MetaData:
    """Import every feature's `model.py`, so the metadata Alembic compares holds the features' tables too."""
    for feature in features():
        if not feature.has_model:
            continue
        try:
            importlib.import_module(feature.model_module)
        except Exception as error:
            raise FeatureModelError(
                f'Feature model {feature.model_module} failed to import: {type(error).__name__}: {error}'
            ) from error
    return Base.metadata


def table_owners() -> dict[str, str]:
    """Table name → the feature whose `model.py` maps it; core tables are absent."""
    owners: dict[str, str] = {}
    prefix = f'{tasks_package.__name__}.'
    for mapper in Base.registry.mappers:
        module = mapper.class_.__module__
        for table in mapper.tables:
            if module.startswith(prefix) and module.endswith('.model'):
                owners[table.name] = module.removeprefix(prefix).split('.')[0]
    return owners
