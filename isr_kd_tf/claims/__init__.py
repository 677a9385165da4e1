"""The papers' claims, measured over seeds (python -m isr_kd_tf.claims; its __main__ says how).

contract: what a method states (Claim, Plan, row) -- the part plug-ins import
runs:     training (or reusing) a plan's runs for one seed; re-scoring their kept checkpoints
stats:    a part's mean, spread and verdict; margins against training steps
plots:    one figure per claim (matplotlib)
report:   the markdown table
"""
