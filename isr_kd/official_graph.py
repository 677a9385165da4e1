"""The authors' own TF1 graph of the incremental GAN step, built from a checkout of their code, to time
it beside this package's step (`python -m isr_kd_tf.bench --only=official_incremental_step
--reference_code=DIR`).

Nothing of theirs ships here: DIR is a checkout of TRINETRA-DEVKATTE/ISR-KD-Network (networks.py and
train.py as published, TensorFlow 1.14 code). Their generator and discriminator are imported from it, and
the lines of train.py that build the losses and the two Adam updates (from the first placeholder to the
discriminator's optimiser) are run as written, under tf.compat.v1. What TF 2 no longer has is lent to them:
`tf.contrib.layers` (xavier_initializer, flatten) and `tf.layers` (from tf_keras' legacy layers: the
[official] extra), and image sides whose halves are integers (their code is Python 2: `_IMAGE_SIZE/2`).

Their step differs from ours in what it runs: the teacher's outputs and 512-channel features are computed
once, offline, and fed; each iteration is a discriminator update and then a generator update, each with
its own generator forward pass (sess.run twice).
"""

import importlib.util
import os
import types
import warnings

import numpy as np

from isr_kd_tf.errors import UserError

FIRST_LINE = "X_lr = tf.placeholder"            # where train.py starts building the graph
LAST_LINE = "optimizer_d = "                    # ... and the last line it needs (D's Adam update)
# train.py's option defaults (options/train_options.py): learning rate, adversarial weight, edge weight
OPTIONS = dict(learning_rate=1e-4, ad_r=5e-3, lambda_edge=0.3)
INSTALL = 'pip install -e ".[official]" (tf-keras, for the tf.layers their networks.py calls)'


class _Side(int):
    """An image side whose `/` stays an integer, as Python 2 divided the authors' sides."""

    def __truediv__(self, other):
        return _Side(int(self) // other)


def _tf1():
    """tf.compat.v1 with the TF1 pieces their code calls that TF 2 moved or dropped."""
    import tensorflow as tf
    try:
        from tf_keras.src.legacy_tf_layers import convolutional, core, normalization
    except ImportError as e:
        raise UserError(f"the authors' TF1 graph needs tf_keras' legacy layers: {INSTALL}") from e
    v1 = tf.compat.v1

    class TF1(types.ModuleType):
        def __getattr__(self, name):
            return getattr(v1, name)

    shim = TF1("tf1_for_the_authors_code")
    shim.layers = types.SimpleNamespace(conv2d_transpose=convolutional.conv2d_transpose, dense=core.dense,
                                        batch_normalization=normalization.batch_normalization)
    shim.contrib = types.SimpleNamespace(layers=types.SimpleNamespace(
        xavier_initializer=lambda: v1.glorot_uniform_initializer(), flatten=core.flatten))
    return shim


def _checkout(folder):
    """(networks module, train.py's graph lines) of a checkout; one line naming the flag if it is not one."""
    if not folder:
        raise UserError("--reference_code is needed: a checkout of TRINETRA-DEVKATTE/ISR-KD-Network "
                        "(git clone it, then --reference_code=that folder)")
    paths = {name: os.path.join(folder, name) for name in ("networks.py", "train.py")}
    missing = [name for name, p in paths.items() if not os.path.isfile(p)]
    if missing:
        raise UserError(f"--reference_code={folder}: no {' or '.join(missing)}: give a checkout of "
                        "TRINETRA-DEVKATTE/ISR-KD-Network")
    with open(paths["train.py"]) as f:
        lines = f.read().splitlines()
    first = next((i for i, line in enumerate(lines) if line.startswith(FIRST_LINE)), None)
    last = next((i for i, line in enumerate(lines) if LAST_LINE in line), None)
    if first is None or last is None or last < first:
        raise UserError(f"{paths['train.py']}: no graph between '{FIRST_LINE}' and '{LAST_LINE}': not the "
                        "authors' train.py (TRINETRA-DEVKATTE/ISR-KD-Network)")
    spec = importlib.util.spec_from_file_location("isr_kd_authors_networks", paths["networks.py"])
    networks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(networks)
    return networks, "\n".join(lines[first:last + 1])


def build(folder, batch_size, hr_size, options=None):
    """(graph, the namespace train.py's lines left: placeholders, losses, `optimizer`, `optimizer_d`)."""
    import tensorflow as tf
    networks, graph_lines = _checkout(folder)
    tf1 = _tf1()
    networks.tf = tf1                 # their functions read the global `tf` when called
    graph = tf.Graph()
    names = {"tf": tf1, "generator": networks.generator, "discriminator": networks.discriminator,
             "opt": types.SimpleNamespace(**{**OPTIONS, **(options or {})}), "_BATCH_SIZE": batch_size,
             "_IMAGE_SIZE": _Side(hr_size), "_RESIZED_IMAGE": _Side(hr_size // 8)}
    with graph.as_default(), warnings.catch_warnings():
        # tf_keras' legacy layers say on every call that tf.layers is deprecated: known, it is their code
        warnings.filterwarnings("ignore", message="`tf.layers.", category=UserWarning)
        exec(compile(graph_lines, os.path.join(folder, "train.py"), "exec"), names)   # noqa: S102
    return graph, names


def feeds(names, seed=0):
    """Random inputs for every placeholder, the first half of the batch new-domain, the rest distilled."""
    rng = np.random.default_rng(seed)
    batch_size = names["_BATCH_SIZE"]
    kd = np.arange(batch_size) >= batch_size // 2
    values = {}
    for key in ("X_lr", "X_hr", "X_grad", "X_grad_2", "X_grad_4", "kd_hr", "kd_hidden"):
        shape = names[key].shape.as_list()
        values[names[key]] = rng.uniform(0, 1, shape).astype(np.float32)
    values[names["encoding_kd"]] = kd
    return values


def session(graph):
    """A session on the graph with its variables initialised (TensorFlow's default thread pools)."""
    import tensorflow as tf
    sess = tf.compat.v1.Session(graph=graph)
    with graph.as_default():
        sess.run(tf.compat.v1.global_variables_initializer())
    return sess


def step_fn(sess, names, values):
    """One iteration as train.py runs it: the discriminator's update, then the generator's."""
    d_fetch = [names["d_loss"], names["optimizer_d"]]
    g_fetch = [names["cost"], names["optimizer"]]

    def step():
        sess.run(d_fetch, feed_dict=values)
        return sess.run(g_fetch, feed_dict=values)[0]
    return step


def teacher_forward_fn(sess, names, values):
    """The generator's forward pass on the batch: the work their offline teacher does once per image."""
    fetch = [names["RGB"], names["Step1_res"]]
    return lambda: sess.run(fetch, feed_dict={names["X_lr"]: values[names["X_lr"]]})


def parameter_counts(graph):
    """{scope: trainable parameters} of their generator and discriminator."""
    with graph.as_default():
        import tensorflow as tf
        variables = tf.compat.v1.trainable_variables()
    return {scope: int(sum(np.prod(v.shape.as_list()) for v in variables if v.name.startswith(scope + "/")))
            for scope in ("generator", "discriminator")}
