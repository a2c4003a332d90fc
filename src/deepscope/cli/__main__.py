"""`python -m deepscope.cli ...` runs the command line."""
import sys

from deepscope.cli import main

sys.exit(main())
