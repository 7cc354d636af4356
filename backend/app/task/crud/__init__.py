"""Data access: the SQL of `queries.sql` by name (`sql.py`) for the hot paths and SQLAlchemy reads and writes for
the rest, one module per table family. It imports only model and errors.
"""
