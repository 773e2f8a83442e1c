"""What the CRUD routes share beyond their bodies (api/schemas/): fetching what the caller may
read (`readable`, by api/access.py's rule), one page of a query (`listing`), and committing a
change with constraint violations as 409s (`writes`)."""
