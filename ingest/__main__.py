import sys

from ingest.app import main
from ingest.settings import IngestSettings

main(IngestSettings(), sys.argv[1:])
