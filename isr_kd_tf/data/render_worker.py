"""Renders bundled faces in a child process: python render_worker.py MODULE_FILE FUNCTION OUT SEED...

Run as a plain script on a rendering module's file (no package import, so
no TensorFlow), it never imports the caller's __main__: building works from
scripts without a main guard, `python -`, `python -c` and notebooks alike.
The results, fn(seed) for each seed in order, are pickled to OUT.
"""

import importlib.util
import pickle
import sys


def main(module_file, function, out, *seeds):
    spec = importlib.util.spec_from_file_location("_bundled_renderer", module_file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    fn = getattr(module, function)
    results = [fn(int(s)) for s in seeds]
    with open(out + ".tmp", "wb") as f:
        pickle.dump(results, f, protocol=pickle.HIGHEST_PROTOCOL)
    import os
    os.replace(out + ".tmp", out)


if __name__ == "__main__":
    main(*sys.argv[1:])
