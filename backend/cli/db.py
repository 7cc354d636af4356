"""`fba db`: apply migrations."""

import typer

from backend.database import migrate

app = typer.Typer(no_args_is_help=True)


@app.command()
def upgrade(revision: str = typer.Argument('head', help='Target revision')) -> None:
    """Apply migrations up to REVISION (every table comes from a migration)."""
    migrate.upgrade(revision)
    typer.echo(f'Database upgraded to {revision}.')


@app.command()
def downgrade(revision: str = typer.Argument(..., help='Target revision, e.g. base')) -> None:
    """Revert migrations down to REVISION."""
    migrate.downgrade(revision)
    typer.echo(f'Database downgraded to {revision}.')
