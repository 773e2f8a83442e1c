import sys

from simulator.app import main
from simulator.settings import SimulatorSettings

main(SimulatorSettings.from_args(sys.argv[1:]))
