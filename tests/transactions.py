"""Transaction helpers the tests share."""

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import transaction


@contextmanager
def rolled_back() -> Iterator[None]:
    """A transaction (a savepoint inside one) whose writes are always undone."""
    with transaction.atomic():
        yield
        transaction.set_rollback(True)
