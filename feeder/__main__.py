"""`python -m feeder`: the same as the `feeder` command."""

from .cli import main

main()
