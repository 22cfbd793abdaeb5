"""`python -m rcodec` is the `rcodec` command."""

from .cli import main

main()
