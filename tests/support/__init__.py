"""Builders shared by the unit and integration tests of several packages."""
