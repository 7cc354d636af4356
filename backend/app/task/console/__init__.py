"""The web console at `/console`: server-rendered pages over the same services as `/api/v1`, no logic of its own."""
