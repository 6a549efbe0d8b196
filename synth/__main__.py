"""`python -m synth preview|bench|export|list ...`."""
import sys

from synth.cli import main

sys.exit(main())
