import sys

from ganlink.cli import main

sys.exit(main())
