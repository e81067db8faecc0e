import sys

from yolactedge.cli.main import main

sys.exit(main())
