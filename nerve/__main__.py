import sys

from nerve.cli import main

sys.exit(main())
