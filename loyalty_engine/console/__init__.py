"""The console's domain: staff users and roles, sessions, sign-in throttling, authorization, audit log.

Plain Python and SQLAlchemy (no Flask): the console and portal blueprints, the CLI's
``users`` commands and other domain code call these functions.
"""
