"""The Open311 GeoReport v2 gateway: residents' apps speak HTTP, gridflow speaks Kafka.

``gridflow serve open311`` serves it (:mod:`services.open311.server`); the app is
:func:`services.open311.app.create_app`. ``POST requests`` checks the form through
the same validation intake applies (:func:`intake.formats.to_raw`,
:func:`intake.core.to_case`), produces an ``open311.request`` report to the report
topic of the channel sender its API key speaks for, and answers once the broker
has acknowledged it. ``GET requests`` reads the status from the archive's tables.
"""
