"""Alembic migrations: one environment over every room's tables (keys_, idp_, seal_, baselib_).

May import the rooms' table metadata (keys/, idp/, seal/, baselib/), never yitong/.
"""
