"""`python -m churnrec.cli ...` runs the console command (used where no script is on PATH)."""

from churnrec.cli import main

main()
