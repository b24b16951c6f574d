"""The web front end: `feeder serve`'s Starlette application (app.py), the subscriber pages
(pages.py) and their defences (guard.py). Only this package imports Starlette and uvicorn."""
