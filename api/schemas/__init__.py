"""Request and response bodies of the CRUD routes (pydantic), one module per resource."""
