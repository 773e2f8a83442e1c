"""`python -m bench [--quick]`: every benchmark in turn, with the same arguments."""

import sys

import bench.alert_feed
import bench.dashboard
import bench.export
import bench.fleet
import bench.history
import bench.ingest
import bench.load
import bench.logins
import bench.market
import bench.notify
import bench.stream
import bench.tls

BENCHES = (
    bench.ingest.main,
    bench.history.main,
    bench.export.main,
    bench.fleet.main,
    bench.stream.main,
    bench.dashboard.main,
    bench.load.main,
    bench.tls.main,
    bench.logins.main,
    bench.market.main,
    bench.notify.main,
    bench.alert_feed.main,
)

raise SystemExit(max(run(sys.argv[1:]) for run in BENCHES))
