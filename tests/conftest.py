"""Fixtures come from tract's public pytest plugin: ``backend``, ``factory``, ``postgres_server``."""

pytest_plugins = ["tract_core.testing.plugin"]
