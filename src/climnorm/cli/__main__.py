"""``python -m climnorm.cli``: the ``climnorm`` command."""

from climnorm.cli.main import entry_point

if __name__ == "__main__":  # pragma: no cover
    entry_point()
