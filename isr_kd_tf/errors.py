"""User-facing errors: one line that names the file or flag and the fix."""

import sys


class UserError(Exception):
    """A mistake the user can fix; entry points print it as one line."""


def run_main(main):
    """Wraps an absl/CLI main: quiet logs unless --verbosity, and a UserError ends as one line, exit status 2."""

    def wrapped(*args, **kwargs):
        from isr_kd_tf.console import quiet_logs
        quiet_logs()
        try:
            return main(*args, **kwargs)
        except UserError as e:
            print(f"error: {e}", file=sys.stderr)
            sys.exit(2)

    return wrapped
