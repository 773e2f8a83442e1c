import sys

from sql.migrate import main

sys.exit(main(sys.argv[1:]))
