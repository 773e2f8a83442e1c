"""Export: a whole table's rows, streamed from one COPY in a read-only snapshot.

`negotiation` picks a format, `exporters` render it, `query` builds the SELECT (who may read a
row: `api.access`), `streaming` runs the COPY and streams its bytes with bounded memory.
"""
