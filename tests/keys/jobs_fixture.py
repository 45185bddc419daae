"""Importable job functions for the job-queue tests (RQ workers import jobs by name)."""


def add(a: int, b: int) -> int:
    return a + b


def explode(message: str) -> None:
    raise RuntimeError(message)
