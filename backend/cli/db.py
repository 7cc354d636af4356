"""`fba db`: apply migrations, and write one from the models."""

from importlib.resources import files
from pathlib import Path

import typer

app = typer.Typer(no_args_is_help=True)


@app.command()
def upgrade(revision: str = typer.Argument('heads', help='Target revision; heads: the core and every feature')) -> None:
    """Apply migrations up to REVISION (every table comes from a migration)."""
    from backend.database import migrate

    migrate.upgrade(revision)
    typer.echo(f'Database upgraded to {revision}.')


@app.command()
def downgrade(revision: str = typer.Argument(..., help='Target revision: base, or email@base for one feature')) -> None:
    """Revert migrations down to REVISION."""
    from backend.database import migrate

    migrate.downgrade(revision)
    typer.echo(f'Database downgraded to {revision}.')


@app.command()
def revision(
    message: str = typer.Option(..., '-m', '--message', help='What the migration does, e.g. "invoice table"'),
    feature: str | None = typer.Option(None, '--feature', help="Write only this feature's changes, into its folder"),
) -> None:
    """Autogenerate a migration from the models into the folder of the feature whose tables changed (or the core)."""
    from backend.database import migrate

    written = migrate.revision(message, feature)
    typer.echo(f'Wrote {_shown(written)}; review it, then run `fba db upgrade`.')


def _shown(path: Path) -> str:
    """The path from the project root, as the README names files."""
    return str(path.relative_to(Path(str(files('backend'))).parent))
