"""`python -m playpen_skills [--check]`: regenerate (or check) the shipped suite file."""

import sys

from playpen_skills.suite import main

sys.exit(main())
