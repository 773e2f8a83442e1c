"""History: which data answers a query (rollups or raw rows), and its SQL.

`timerange` and `interval` parse the request, `resolution` tiles the range into rollup and raw
pieces (`pending`: windows still waiting for a refresh), `series` and `candles` read them, and
`downsample` thins raw rows. The bucket grid itself is `tickwire.timegrid`.
"""
