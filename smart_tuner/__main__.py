import sys

from smart_tuner.cli import main

sys.exit(main())
