"""The per-type registries of schemas.data_types: a data type left without its function is
named at import, not found later as a KeyError."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from schemas.data_types import DATA_TYPES, PerType


def test_complete_names_the_types_left_without_a_function() -> None:
    registry = PerType[Callable[[], None]]("example")
    for data_type in DATA_TYPES[1:]:
        registry.of(data_type.name)(lambda: None)
    with pytest.raises(
        RuntimeError, match=f"no example for data type\\(s\\): {DATA_TYPES[0].name}$"
    ):
        registry.complete()
    registry.of(DATA_TYPES[0].name)(lambda: None)
    assert list(registry.complete()) == [t.name for t in DATA_TYPES]


def test_an_unknown_type_or_a_second_function_is_refused() -> None:
    registry = PerType[Callable[[], None]]("example")
    with pytest.raises(KeyError, match="unknown Oura data type 'nap'"):
        registry.of("nap")
    registry.of("sleep")(lambda: None)
    with pytest.raises(ValueError, match="a second example for 'sleep'"):
        registry.of("sleep")(lambda: None)
