"""Face super-resolution in TensorFlow 2 / Keras 3: the shared core, ISR-KD's commands and its plug-in."""

import warnings

# Known warnings from the libraries below us, each silenced where it is raised and nowhere else:
#   Keras 3's convert_to_numpy (keras/src/backend/tensorflow/core.py) calls np.array(variable) on every
#   weights save; a TF variable's __array__ takes no copy= keyword, so NumPy 2 warns. It is harmless
#   (NumPy copies) and ours to ignore, not to fix.
KNOWN_WARNINGS = (
    ("ignore", r"__array__ implementation doesn't accept a copy keyword", DeprecationWarning,
     r"keras\.src\.backend\.tensorflow\.core"),
)
for _action, _message, _category, _module in KNOWN_WARNINGS:
    warnings.filterwarnings(_action, message=_message, category=_category, module=_module)
