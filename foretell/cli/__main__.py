"""``python -m foretell.cli``: the same as the ``foretell`` command."""

from . import main

main()
