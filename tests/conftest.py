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


def pytest_collection_modifyitems(config, items):
    """Slow tests first: with -n 2 the two workers then end together instead of one waiting on a long
    test picked up last."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: starts processes or trains through the CLI; the fast tier "
                                       "(python -m pytest -q -m \"not slow\" tests) leaves it out")
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


@pytest.fixture(scope="session")
def real_tfds(real_data_dir, tmp_path_factory):
    """The three real-image sets built once per session from ../shared/data: (data_dir, real_data_dir)."""
    from isr_kd_tf import data
    from isr_kd_tf.data import real_faces

    d = str(tmp_path_factory.mktemp("real_tfds"))
    data.prepare_sets(real_faces.NAMES, d, real_data_dir)
    return d, real_data_dir
