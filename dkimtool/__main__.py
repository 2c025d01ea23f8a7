"""`python -m dkimtool`."""

from dkimtool.cli import main

main()
