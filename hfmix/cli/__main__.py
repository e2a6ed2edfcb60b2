import sys

from hfmix.cli import main


sys.exit(main())
