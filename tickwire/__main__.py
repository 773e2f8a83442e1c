import sys

from tickwire.stack import main

sys.exit(main())
