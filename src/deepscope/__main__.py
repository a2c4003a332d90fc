"""`python -m deepscope ...` runs the command line."""
import sys

from deepscope.cli import main

sys.exit(main())
