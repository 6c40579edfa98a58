"""Creating many dynamic resources in one process must not grow the pickler's call depth."""

import pickle

from pulumi.dynamic.dynamic import serialize_provider

import components  # noqa: F401 - installs the guard
from tests.support.notes_provider import NotesProvider


def test_serialising_thousands_of_providers_keeps_the_pickler_flat():
    before = pickle._Pickler._batch_setitems
    for _ in range(2500):  # well past the default recursion limit of 1,000
        serialized = serialize_provider(NotesProvider("store.json"))
    assert pickle._Pickler._batch_setitems is before
    assert serialized == serialize_provider(NotesProvider("store.json"))  # still deterministic
