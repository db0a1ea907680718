"""The router: owns the case workflow and is the one writer of canonical case events.

It reads new cases, the commands of the people who work them, and lapsed
deadlines; it decides who holds each case and writes the story to
``gridflow.cases.events`` (and each assignment to the unit's own topic).
"""
