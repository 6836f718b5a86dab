"""The runtime over HTTP: `serve.http.app.create_app` builds the FastAPI app that
`python -m serve MODEL` runs under uvicorn (see the app module for the routes)."""
