"""HTTP layer: the FastAPI app factory, error mapping and one router module per resource."""
