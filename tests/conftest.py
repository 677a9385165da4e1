import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Under `-n N` each worker, and every process its tests start, gets cores / N threads: TensorFlow's and
# PyTorch's pools spin while they wait, and two workers' 2-thread pools on 2 cores slowed a PyTorch test
# fourfold (44 s in the suite, 11 s alone). Set before TensorFlow or PyTorch is imported.
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if _WORKERS > 1:
    for _var in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS"):
        os.environ.setdefault(_var, str(max(1, (os.cpu_count() or 1) // _WORKERS)))

import pytest  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))     # the checkout
TINY_SOURCE = "synthetic_faces/tiny"
TINY_TARGET = "avatar_faces/tiny"


DURATIONS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "durations.json")


def _recorded_durations():
    try:
        with open(DURATIONS) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def pytest_collection_modifyitems(config, items):
    """Longest first, by each test's seconds in the last recorded suite run (tests/durations.json; a test
    not in it counts 10 s if slow, else 0.5): with one test handed out at a time (pytest_configure) the
    two workers end together instead of one waiting on a long test picked up last."""
    seconds = _recorded_durations()
    # a test marked `first` builds what several later tests share (the real-image sets): started at once, it
    # has built them before they start, where otherwise two of them could start together and one wait idle
    items.sort(key=lambda item: (item.get_closest_marker("first") is None,
                                 -seconds.get(item.nodeid, 10.0 if item.get_closest_marker("slow") else 0.5)))


def pytest_addoption(parser):
    parser.addoption("--record-durations", action="store_true",
                     help=f"write each test's setup + call + teardown seconds to {DURATIONS} for the ordering")


_measured = {}      # nodeid: seconds, in the controller under xdist (the workers' reports reach it)


def pytest_runtest_logreport(report):
    _measured[report.nodeid] = _measured.get(report.nodeid, 0.0) + report.duration


def pytest_sessionfinish(session):
    config = session.config
    if config.getoption("record_durations") and not hasattr(config, "workerinput"):     # the controller
        seconds = {**_recorded_durations(), **{k: round(v, 2) for k, v in _measured.items()}}     # a part run updates its part
        with open(DURATIONS, "w") as f:
            json.dump({k: v for k, v in sorted(seconds.items()) if v >= 0.05}, f, indent=0)
            f.write("\n")


def pytest_configure(config):
    if getattr(config.option, "maxschedchunk", "absent") is None:       # xdist's load scheduling: a test at a time,
        config.option.maxschedchunk = 1                                 # not a quarter of each worker's share
    config.addinivalue_line("markers", "slow: starts processes, trains, or does a command's whole work (seconds "
                                       "each); the fast tier (python -m pytest -q -m \"not slow\" tests) leaves it out")
    config.addinivalue_line("markers", "first: builds what later tests share; starts before the others")
    from isr_kd_tf import KNOWN_WARNINGS      # pytest resets warning filters per test: give it the package's
    for action, message, category, module in KNOWN_WARNINGS:
        config.addinivalue_line("filterwarnings", f"{action}:{message}:{category.__name__}:{module}")


def pipeline(method="isr_kd", **settings):
    """A method's data.PipelineConfig for these settings (config.make's), as a run builds it."""
    from isr_kd_tf import config, data
    return data.PipelineConfig.from_settings(config.make(method=method, **settings))


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory):
    """The two bundled domains at their tiny size, built once per session."""
    from isr_kd_tf import data

    d = str(tmp_path_factory.mktemp("tfds"))
    for name in (TINY_SOURCE, TINY_TARGET):
        data.num_examples(name, "train", d)
    return d


SHARED_DATA = os.path.join(os.path.dirname(ROOT), "shared", "data")    # the real-image sets (never committed)


@pytest.fixture(scope="session")
def real_data_dir():
    """../shared/data, where the real-image sets lie beside the checkout; tests that need it skip without it."""
    if not all(os.path.isdir(os.path.join(SHARED_DATA, n, "images")) for n in ("utkface", "anime_faces", "lfw_parts")):
        pytest.skip(f"the real-image sets are not at {SHARED_DATA} (utkface/, anime_faces/, lfw_parts/ "
                    "with images/ and split files)")
    return SHARED_DATA


def _shared_by_workers(tmp_path_factory, name):
    """A path under the session's temporary root, which every xdist worker's own root lies in."""
    base = tmp_path_factory.getbasetemp()
    return base.parent / name if os.environ.get("PYTEST_XDIST_WORKER") else base / name


@pytest.fixture(scope="session")
def real_tfds(real_data_dir, tmp_path_factory):
    """real_tfds(*names) -> (data_dir, real_data_dir) with the named real-image sets (all three without
    names) built from ../shared/data: each set once per session, by whichever worker asks first (30 s for
    the three, which both workers used to spend)."""
    from filelock import FileLock

    from isr_kd_tf import data
    from isr_kd_tf.data import real_faces

    d = _shared_by_workers(tmp_path_factory, "real_tfds")

    def build(*names):
        for name in names or real_faces.NAMES:
            with FileLock(f"{d}.{name}.lock", timeout=600):
                data.prepare_sets([name], str(d), real_data_dir)
        return str(d), real_data_dir
    return build
