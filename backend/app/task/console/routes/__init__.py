"""Console pages, one module per area; `router` gathers them."""
