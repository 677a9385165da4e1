"""What the entry points print: the stage, progress, results and where files went.

TensorFlow's C++ start-up lines (oneDNN notice, CPU feature guard, "could
not find cuda drivers", cuInit errors on machines without a GPU) and the
INFO lines and progress bars of tfds read as "something is broken" to a
newcomer. TensorFlow 2.21 writes its start-up lines before it reads
TF_CPP_MIN_LOG_LEVEL, so the entry points import it with the process's
stderr held back and drop those lines; anything else written then is
passed on. absl's `--verbosity` (`-v`) brings everything back, and a
TF_CPP_MIN_LOG_LEVEL the user set switches the filtering off.
"""

import logging
import os
import re
import sys
import tempfile
import warnings

_CHATTER = re.compile(r"WARNING: All log messages before absl::InitializeLog"
                      r"|^[IW]\d{4} [\d:.]+\s+\d+ \S+\] "                       # C++ INFO / WARNING lines
                      r"|^E\d{4} [\d:.]+\s+\d+ cuda_\w+\.cc:\d+\] failed call to cuInit"
                      r"|^To enable the following instructions: .*rebuild TensorFlow")


def asked_for_logs(argv=None):
    """Whether the command line sets absl's --verbosity / -v."""
    argv = sys.argv if argv is None else argv
    return any(a in ("-v", "--v", "--verbosity") or a.startswith(("-v=", "--v=", "--verbosity="))
               for a in argv[1:])


_QUIET = {}     # decided once, before TF_CPP_MIN_LOG_LEVEL is set here


def _quiet_wanted():
    if "quiet" not in _QUIET:
        _QUIET["quiet"] = not asked_for_logs() and "TF_CPP_MIN_LOG_LEVEL" not in os.environ
    return _QUIET["quiet"]


def quiet_startup(name):
    """Call with the entry module's __name__ before anything imports TensorFlow; acts only when
    that module runs as the program."""
    if name != "__main__" or not _quiet_wanted() or "tensorflow" in sys.modules:
        return
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"      # later C++ notices (e.g. oneDNN's uint8 fallback) too
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as held:
        os.dup2(held.fileno(), 2)
        try:
            import tensorflow as tf
            tf.config.list_physical_devices()          # the cuInit attempt happens here
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            kept = [line for line in held.read().decode(errors="replace").splitlines() if not _CHATTER.search(line)]
    if kept:
        print("\n".join(kept), file=sys.stderr, flush=True)


def child_environ():
    """os.environ for a child entry point: without the TF_CPP_MIN_LOG_LEVEL quiet_startup set here,
    which the child would take for the user's and stop filtering."""
    env = dict(os.environ)
    if _QUIET.get("quiet"):
        env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    return env


class _PlainWarnings(logging.Formatter):
    def format(self, record):
        return f"{record.levelname.lower()}: {record.getMessage()}"


class _NotLibraryChatter(logging.Filter):
    """tfds' notes on folders and preparation: only its errors are a user's business."""

    def filter(self, record):
        return record.levelno >= logging.ERROR or "tensorflow_datasets" not in record.pathname


def quiet_logs():
    """After the flags are parsed: our warnings as plain one-liners, tfds' only if they are errors,
    no progress bars from tfds; everything as usual with --verbosity."""
    if not _quiet_wanted():
        return
    from absl import logging as absl_logging
    absl_logging.set_verbosity(absl_logging.WARNING)
    handler = absl_logging.get_absl_handler()
    handler.setFormatter(_PlainWarnings())
    handler.addFilter(_NotLibraryChatter())
    logging.getLogger("tensorflow").setLevel(logging.ERROR)     # retracing notices and the like
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=UserWarning)
    import tensorflow_datasets as tfds
    tfds.disable_progress_bar()
