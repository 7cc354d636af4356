"""Embedded PostgreSQL and Redis from pip wheels (the `embedded` extra), for `fba up --embedded` and the tests.

Only `fba up` and the test set-up import this package, and the wheels are looked up only when servers start, so an
install without the extra runs everything else unchanged.
"""
