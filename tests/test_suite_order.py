"""The suite's own scheduling (tests/conftest.py): longest recorded first, and --record-durations
updating what it ran without losing the rest."""

import json
import types

from tests import conftest


class _Item:
    def __init__(self, nodeid, *markers):
        self.nodeid, self.markers = nodeid, markers

    def get_closest_marker(self, name):
        return name if name in self.markers else None


def test_tests_start_longest_first_and_unknown_ones_by_their_marker(tmp_path, monkeypatch):
    path = tmp_path / "durations.json"
    path.write_text(json.dumps({"a": 1.0, "b": 30.0, "c": 4.0, "builds": 2.0}))
    monkeypatch.setattr(conftest, "DURATIONS", str(path))
    items = [_Item("a"), _Item("new_fast"), _Item("b"), _Item("new_slow", "slow"), _Item("c"),
             _Item("builds", "slow", "first")]
    conftest.pytest_collection_modifyitems(None, items)
    assert [i.nodeid for i in items] == ["builds", "b", "new_slow", "c", "a", "new_fast"]


def test_recording_rewrites_what_ran_and_keeps_the_rest(tmp_path, monkeypatch):
    path = tmp_path / "durations.json"
    path.write_text(json.dumps({"kept": 2.0, "rerun": 9.0}))
    monkeypatch.setattr(conftest, "DURATIONS", str(path))
    monkeypatch.setattr(conftest, "_measured", {})
    for nodeid, seconds in (("rerun", 1.0), ("rerun", 0.5), ("tiny", 0.01), ("added", 3.0)):
        conftest.pytest_runtest_logreport(types.SimpleNamespace(nodeid=nodeid, duration=seconds))
    config = types.SimpleNamespace(getoption=lambda name: name == "record_durations")
    conftest.pytest_sessionfinish(types.SimpleNamespace(config=config))
    assert json.loads(path.read_text()) == {"added": 3.0, "kept": 2.0, "rerun": 1.5}
